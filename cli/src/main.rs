//! `cloudflare-durable`: call methods, read and write state, watch live
//! messages and run the reference worker locally, from the command line.
//! Arguments and output are JSON; errors are one readable line on stderr
//! with an exit code per error kind.

mod dev;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cloudflare_durable::{Client, Config, Error, ErrorKind, ListOptions, ObjectRef};
use serde_json::{json, Value};

/// Talk to Cloudflare Durable Objects through a CloudflareDurable worker.
///
/// Exit codes: 0 success, 1 other error, 2 invalid input or usage,
/// 3 not found, 4 unauthorized, 5 conflict, 6 timeout or network error,
/// 7 server error.
#[derive(Parser, Debug)]
#[command(name = "cloudflare-durable", version)]
struct Cli {
    /// The worker's URL.
    #[arg(long, env = "CLOUDFLARE_WORKER_URL", global = true)]
    worker_url: Option<String>,
    /// Bearer token for the worker (prefer the environment variable).
    #[arg(
        long,
        env = "CLOUDFLARE_API_TOKEN",
        hide_env_values = true,
        global = true
    )]
    api_token: Option<String>,
    /// The namespace of the object (default: `default`).
    #[arg(long, global = true)]
    namespace: Option<String>,
    /// Address the object by its 64-hex-digit id instead of its name.
    #[arg(long, global = true)]
    by_id: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Call a method: prints its result.
    Call {
        /// The object.
        object: String,
        /// The method.
        method: String,
        /// The params, as JSON (default `{}`).
        params: Option<String>,
    },
    /// Read, write, delete or list the object's state.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Print every live message of the object as a JSON line, until Ctrl-C.
    Watch {
        /// The object.
        object: String,
    },
    /// Run the reference worker locally on workerd (Ctrl-C stops it).
    Dev(dev::DevArgs),
}

#[derive(Subcommand, Debug)]
enum StateCommand {
    /// Print the whole state, or one key's value.
    Get {
        /// The object.
        object: String,
        /// The key (whole state when absent).
        key: Option<String>,
    },
    /// Set a key to a JSON value.
    Put {
        /// The object.
        object: String,
        /// The key.
        key: String,
        /// The value, as JSON.
        value: String,
    },
    /// Delete a key.
    Delete {
        /// The object.
        object: String,
        /// The key.
        key: String,
    },
    /// Walk the keys in pages, printing `{"key", "value"}` JSON lines.
    List {
        /// The object.
        object: String,
        /// Only keys with this prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// Page size (1-1000).
        #[arg(long, default_value_t = 500)]
        page_size: u32,
        /// Walk backwards.
        #[arg(long)]
        reverse: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}: {error}", error.kind());
            ExitCode::from(exit_code(&error))
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    if let Command::Dev(args) = &cli.command {
        return dev::run(args).await;
    }
    let mut config = Config::from_env();
    if let Some(url) = &cli.worker_url {
        config = config.worker_url(url);
    }
    if let Some(token) = &cli.api_token {
        config = config.api_token(token);
    }
    let client = Client::new(config.build()?)?;
    let object = |name: &str| {
        let object = if cli.by_id {
            ObjectRef::id(name)
        } else {
            ObjectRef::name(name)
        };
        match &cli.namespace {
            Some(ns) => object.in_namespace(ns),
            None => object,
        }
    };
    match cli.command {
        Command::Call {
            object: name,
            method,
            params,
        } => {
            let params = parse_json("params", params.as_deref().unwrap_or("{}"))?;
            print_json(&client.call_method(object(&name), &method, &params).await?);
        }
        Command::State { command } => match command {
            StateCommand::Get {
                object: name,
                key: None,
            } => print_json(&Value::Object(client.get_state(object(&name)).await?)),
            StateCommand::Get {
                object: name,
                key: Some(key),
            } => print_json(&client.get_state_key(object(&name), &key).await?),
            StateCommand::Put {
                object: name,
                key,
                value,
            } => {
                client
                    .update_state(object(&name), &key, &parse_json("value", &value)?)
                    .await?;
                print_json(&json!({"success": true, "key": key}));
            }
            StateCommand::Delete { object: name, key } => {
                client.delete_state(object(&name), &key).await?;
                print_json(&json!({"success": true, "key": key}));
            }
            StateCommand::List {
                object: name,
                prefix,
                page_size,
                reverse,
            } => {
                let options = ListOptions {
                    prefix,
                    limit: Some(page_size),
                    reverse,
                    ..Default::default()
                };
                list(&client, object(&name), options).await?;
            }
        },
        Command::Watch { object: name } => watch(&client, object(&name)).await?,
        Command::Dev(_) => unreachable!("handled above"),
    }
    Ok(())
}

/// Streams every page as JSON lines, with a progress line on a terminal.
async fn list(client: &Client, object: ObjectRef, options: ListOptions) -> Result<(), Error> {
    let mut lister = client.list(object, options);
    let mut stdout = std::io::stdout().lock();
    let progress = std::io::stderr().is_terminal();
    let mut total = 0u64;
    while let Some(page) = lister.next_page().await? {
        for (key, value) in page {
            let line = json!({"key": key, "value": value});
            if writeln!(stdout, "{line}").is_err() {
                return Ok(()); // the reader went away (a closed pipe)
            }
            total += 1;
        }
        if progress {
            eprint!("\rlisted {total} keys…");
        }
    }
    if progress {
        eprintln!("\rlisted {total} keys.");
    }
    Ok(())
}

/// Prints live messages until Ctrl-C or until the socket ends.
async fn watch(client: &Client, object: ObjectRef) -> Result<(), Error> {
    let socket = client.websocket(object).await?;
    loop {
        tokio::select! {
            message = socket.next_message() => match message? {
                Some(message) => {
                    let mut stdout = std::io::stdout().lock();
                    if writeln!(stdout, "{message}").and_then(|_| stdout.flush()).is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    socket.close().await;
    Ok(())
}

fn parse_json(what: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::InvalidInput {
        field: cloudflare_durable::InputField::Params,
        message: format!("{what} is not JSON ({e}): {text:?}"),
    })
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::InvalidInput => 2,
        ErrorKind::NotFound => 3,
        ErrorKind::Unauthorized => 4,
        ErrorKind::Conflict => 5,
        ErrorKind::Timeout | ErrorKind::Network => 6,
        ErrorKind::Server => 7,
        _ => 1,
    }
}
