# The CPU GEMM behind Eigen's matrix products (convolutions, Winograd, matmul): `edat_gemm`, an interface target that
# tensor/ and layers/ link privately.
#
# EDAT_OPENBLAS=AUTO (default) or ON: Eigen hands its float/double products to OpenBLAS (EIGEN_USE_BLAS). On an
# AVX-512 Zen 4 OpenBLAS 0.3.21 runs single-threaded SGEMM at about 100 GFLOP/s where Eigen's own kernel reaches 82
# (bench/README.md, "GEMM"). The OpenMP build of OpenBLAS is linked by its full path (Debian's
# libopenblas0-openmp, in its own folder; the folder goes into the RPATH so the alternatives link cannot swap in the
# pthread build): inside edat's own parallel regions it then runs on the calling thread alone, and outside them on
# OpenMP's threads, never on a second thread pool that would fight OpenMP for the cores.
# OFF: Eigen's own GEMM (the CUDA bundle uses this: OpenBLAS's 37 MB would not fit the device machine's carry).
set(EDAT_OPENBLAS AUTO CACHE STRING "CPU GEMM through OpenBLAS (the OpenMP build): AUTO, ON or OFF")
set_property(CACHE EDAT_OPENBLAS PROPERTY STRINGS AUTO ON OFF)

add_library(edat_gemm INTERFACE)
target_link_libraries(edat_gemm INTERFACE Eigen3::Eigen)
set(EDAT_WITH_OPENBLAS OFF)
if(NOT EDAT_OPENBLAS STREQUAL "OFF")
  find_library(EDAT_OPENBLAS_LIBRARY NAMES openblas
               PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp NO_DEFAULT_PATH)
  if(EDAT_OPENBLAS_LIBRARY)
    set(EDAT_WITH_OPENBLAS ON)
    target_compile_definitions(edat_gemm INTERFACE EIGEN_USE_BLAS EDAT_WITH_OPENBLAS=1)
    target_link_libraries(edat_gemm INTERFACE "${EDAT_OPENBLAS_LIBRARY}")
  elseif(EDAT_OPENBLAS STREQUAL "ON")
    message(FATAL_ERROR "EDAT_OPENBLAS=ON but OpenBLAS's OpenMP build was not found "
                        "(apt install libopenblas-openmp-dev)")
  endif()
endif()
