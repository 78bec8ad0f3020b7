"""GPU and system sampler: NVML per GPU and per process, psutil for CPU, RAM and disk."""
