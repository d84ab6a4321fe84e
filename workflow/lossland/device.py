"""Where a job runs, and numerics that make the same config give the same bits there: the CPU, a CUDA GPU that no
other job of this machine holds (`gpus`), or Apple silicon (MPS)."""

from .errors import UserError


def select_device(name: str = "auto"):
    """The device to run on, with numerics set up for it (see `reproducible_numerics`)."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device = cuda but no CUDA GPU is visible: set device: auto or cpu")
    if name == "mps" and not mps_available():
        raise UserError("device = mps but no Apple-silicon GPU (MPS) is available: set device: auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    device = claim_cuda_device() if name == "cuda" else torch.device(name)
    reproducible_numerics(device)
    return device


def bf16_fast(device) -> bool:
    """Whether `device` runs bf16 matrix products natively: a CUDA GPU with bf16, a CPU with AVX512_BF16 or AMX
    (oneDNN's bf16 kernels; elsewhere bf16 autocast on a CPU is emulated and slower than fp32)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


def resolve_precision(precision: str, device) -> str:
    """fp32 or bf16: `precision` itself, or for auto bf16 where `device` runs it fast (`bf16_fast`), else fp32."""
    if precision != "auto":
        return precision
    return "bf16" if bf16_fast(device) else "fp32"


def claim_cuda_device():
    """One visible GPU that no other job of this machine holds (see `gpus`), for the rest of this process."""
    import torch

    from .gpus import claim, cuda_keys

    keys = cuda_keys()
    if not keys:
        raise UserError("device = cuda but no CUDA GPU is visible: set device: auto or cpu")
    index = claim(keys, log=lambda line: print(line, flush=True))
    torch.cuda.set_device(index)
    print(f"using GPU {index} of {len(keys)} visible ({keys[index]})", flush=True)
    return torch.device("cuda", index)


def mps_available() -> bool:
    import torch

    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def reproducible_numerics(device) -> None:
    """fp32 means fp32, and the same config gives the same numbers, on a GPU too.

    PyTorch lets cuDNN convolutions use TF32 on Ampere and newer GPUs (~1e-3 relative error): off. On CUDA, cuDNN
    autotuning and atomics-based kernels make runs differ bit-wise: deterministic algorithms instead (cuBLAS needs
    its workspace setting before it starts). CPU kernels here are deterministic already.
    """
    import os

    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.utils.deterministic.fill_uninitialized_memory = False  # we never read memory we did not write
