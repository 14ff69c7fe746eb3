"""Collaborative filtering on explicit ratings (fastbook chapter 8).

A user who rated three movies, a huge mostly-empty ratings matrix, and latent factors
learned by the three steps: randomly initialise parameters, compute predictions, compute the
loss. Embeddings are the shortcut for multiplying by one-hot vectors.

Modules: data (reading and splitting ratings), models (the three nn.Modules), train
(one-cycle training), metrics (rating error and top-N quality), saved (the model on disk),
lookup (titles and users by name), foldin (new users without retraining), explore (biases,
similar, recommend, plot, explain). Nothing here imports torch at import time.
"""
