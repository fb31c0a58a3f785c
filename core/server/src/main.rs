use clap::Parser;

/// mimalloc rather than glibc's malloc: a busy server allocates and frees
/// on every request from several threads, where glibc's arenas spent a
/// sixth of the CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
