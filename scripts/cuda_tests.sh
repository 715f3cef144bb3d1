# The test binaries that carry CUDA tests, and which of their tests need a GPU: sourced by scripts/gpu_check.sh,
# scripts/prepare_gpu_bundle.sh and tests/require_gpu_test.sh, so the three always agree.
# shellcheck shell=bash disable=SC2034

cuda_test_binaries=(test_cuda_backend test_layers_cuda test_optim_cuda test_resnet test_losses test_optim_parity
                    test_loader test_tensor test_models test_weights)

# The gtest filter of the CUDA tests in binary $1: all of a binary made of CUDA tests, else the tests named *Cuda*.
cuda_test_filter() {
  case "$1" in
    test_cuda_backend | test_layers_cuda | test_optim_cuda) echo '*' ;;
    *) echo '*Cuda*:*CUDA*' ;;
  esac
}
