//! `scripted-llm [--port 11435] [--host 127.0.0.1]`: the scripted model server on its own, for
//! `make dev` and the benchmarks. Add it in the dashboard (or with
//! `POST /api/settings/endpoints`) as an `ollama` endpoint at `http://127.0.0.1:11435`, or as
//! an `openai` endpoint at `http://127.0.0.1:11435/v1`. Ctrl-C stops it.

fn main() -> std::io::Result<()> {
    let mut host = "127.0.0.1".to_owned();
    let mut port = 11435u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--host", Some(h)) => host = h,
            ("--port", Some(p)) => {
                port = p.parse().map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "--port takes a number")
                })?;
            }
            _ => {
                eprintln!("usage: scripted-llm [--host ADDR] [--port PORT]");
                std::process::exit(2);
            }
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
            eprintln!(
                "scripted model server on http://{} (Ollama) and http://{}/v1 (OpenAI); models: {}",
                listener.local_addr()?,
                listener.local_addr()?,
                halbert_scripted_llm::MODELS.join(", ")
            );
            halbert_scripted_llm::serve(listener, Default::default(), async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
        })
}
