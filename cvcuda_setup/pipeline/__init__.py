"""The pipelines, each read top to bottom: ``build`` (recipe -> plan -> doctor -> sources -> configure/build
-> install -> plugin); ``cvcuda_setup.ci`` drives the commands one after another for CI."""
