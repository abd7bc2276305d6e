"""The language model: the local llama.cpp model, a LAN server, and the router between them."""
