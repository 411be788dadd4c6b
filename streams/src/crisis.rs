//! crisis (being implemented).
