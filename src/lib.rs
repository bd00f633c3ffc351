//! census facade (being written)
