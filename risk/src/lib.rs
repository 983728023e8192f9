//! The risk gate: every order intent passes it, and only it can approve an order.
