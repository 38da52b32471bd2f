import Bertology

print("bertology: kernels on \(KernelISA.active), OpenMP \(Kernels.openMPEnabled)")
