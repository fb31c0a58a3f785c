use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = townhall_server::cli::Cli::parse();
    match townhall_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
