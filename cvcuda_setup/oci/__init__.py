"""A minimal OCI distribution client (stdlib ``urllib`` only) for storing built prefixes as OCI artifacts.

- :mod:`.ref`: ``oci://HOST[:PORT]/REPO[:TAG]`` references;
- :mod:`.auth`: credentials (environment, docker config) and the registry token handshake;
- :mod:`.transport`: one HTTP exchange, network failures as :class:`.errors.RegistryUnavailable`;
- :mod:`.client`: blobs, manifests and tags of one registry;
- :mod:`.artifact`: oras-compatible artifact manifests, push and pull of a list of files.
"""
