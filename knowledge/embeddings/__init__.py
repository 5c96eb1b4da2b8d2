"""Embeddings: the port and its adapters (local ONNX model, Bedrock, a user's Lambda)."""

from knowledge.embeddings.base import Embeddings, EmbeddingsError, InputType

__all__ = ["Embeddings", "EmbeddingsError", "InputType"]
