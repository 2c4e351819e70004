"""Compression engines of llm-kick: pruning, quantization, and the storage analysis.

Import the sub-modules you need (``compressors.api``, ``compressors.storage``): this file
stays light so that reading a storage report never pays for torch or llmcompressor.
"""
