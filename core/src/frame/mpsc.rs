//! The multi-producer single-consumer frame ring (in progress).
