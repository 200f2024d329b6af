"""The base model: loading it (`loading`), its two LoRA adapters (`adapters`), and the tiny
Llama the smoke preset and the tests build instead of downloading one (`tiny`).
"""
