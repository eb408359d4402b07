"""The sentiment model: tokenizer, training, quantization, evaluation and the runtime scorer.

Imports nothing else of sentistream, so the scorer can be used on its own."""
