//! The end-to-end suite: halbertd and halbert-web in-process, real sockets, real HTTP and
//! WebSocket clients, the scripted model server; plus the workspace's layering checks.
//! Every module is one area; `util` is their shared helper library.

mod util;

mod admin;
mod chat_config;
mod chat_models;
mod chat_send;
mod chat_stream;
mod chat_tools;
mod conversations;
mod dependencies;
mod discovery;
mod editor;
mod gate;
mod ingestion;
mod layering;
mod memory;
mod models;
mod web;
mod web_hardening;
