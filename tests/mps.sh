# CUDA MPS for a batch of GPU processes, sourced by tests/gpu_background.sh and tests/gpu_contention.sh:
#   mps_start DIR   # starts the control daemon with its pipe and log folders under DIR (exported for the children)
#   mps_stop        # tells it to quit (its server with it) and forgets the folders
# No setting of the GPU changes (compute mode, clocks): processes started in between share the GPU through MPS
# instead of being time-sliced by the driver.
mps_start() {
    export CUDA_MPS_PIPE_DIRECTORY=$1/mps-pipe CUDA_MPS_LOG_DIRECTORY=$1/mps-log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    nvidia-cuda-mps-control -d
}

mps_stop() {
    echo quit | nvidia-cuda-mps-control
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    sleep 2  # the server exits after the daemon's answer
}
