"""Facts about this host, read without side effects; every probe answers, none raises for a missing tool.

| module | what it reads |
| --- | --- |
| ``gpu`` | CUDA devices and the driver version, through cuda-python's driver API |
| ``toolkit`` | which nvcc (and why), its version, the arches it targets, NPP/cuBLAS/cuFFT/cuDNN |
| ``compiler`` | nvcc's host compiler, the range each nvcc accepts, older g++ that could replace it |
| ``hostinfo`` | cmake/ninja versions, free disk, memory, cores, the default job count, ccache/sccache |
| ``pydists`` | pip-installed ``opencv-*`` distributions that would shadow a CUDA ``cv2`` |
| ``python`` | the one interpreter probe: include dir, libpython, numpy, wheel tags, site dirs, pip |

The doctor (``cvcuda_setup.doctor``) turns these facts into findings; ``plan``/``build`` use them directly.
"""
