// EDAT_HOST_DEVICE marks small inline functions shared by CPU code and CUDA kernels (index maths, RNG).
#pragma once

#ifdef __CUDACC__
#define EDAT_HOST_DEVICE __host__ __device__
#else
#define EDAT_HOST_DEVICE
#endif
