"""The posts service: posts, their comments, and who may change them."""
