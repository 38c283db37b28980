//! A server instance's settings ([`ServerSettings`]), whose `Debug` output never shows the key.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use skirmish_net::server::ListenConfig;
use skirmish_net::socket::LinkConditioner;
use skirmish_net::tick::DEFAULT_TICK_RATE;
use skirmish_net::tokens::PrivateKey;

/// Default UDP port of a server.
pub const DEFAULT_PORT: u16 = 5000;

/// Settings of a server instance, whatever the game. Its `Debug` output never shows the private
/// key.
#[derive(Clone)]
pub struct ServerSettings {
    /// Address the UDP socket binds to.
    pub bind: SocketAddr,
    /// Addresses clients dial to reach this server. Empty means "the bound address", or
    /// `127.0.0.1:<port>` when bound to an unspecified address such as `0.0.0.0`.
    pub public_addresses: Vec<SocketAddr>,
    /// Most clients connected at once.
    pub max_clients: usize,
    /// Simulation ticks per second.
    pub tick_rate: u16,
    /// Simulated latency, jitter and loss on the server's socket (testing only).
    pub conditioner: LinkConditioner,
    /// Snapshots per second sent to each client; at most the tick rate, which it should divide.
    /// `None` means one per tick.
    pub snapshot_rate: Option<u16>,
    /// The netcode private key. With a key the server is secure: clients need a connect token
    /// minted with it (see [`skirmish_net::tokens`]). `None` serves unsecure clients (host mode
    /// on loopback, or `--insecure`).
    pub private_key: Option<PrivateKey>,
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            bind,
            public_addresses,
            max_clients,
            tick_rate,
            conditioner,
            snapshot_rate,
            private_key,
        } = self;
        f.debug_struct("ServerSettings")
            .field("bind", bind)
            .field("public_addresses", public_addresses)
            .field("max_clients", max_clients)
            .field("tick_rate", tick_rate)
            .field("conditioner", conditioner)
            .field("snapshot_rate", snapshot_rate)
            .field(
                "private_key",
                &format_args!(
                    "{}",
                    if private_key.is_some() {
                        "Some(<redacted>)"
                    } else {
                        "None"
                    }
                ),
            )
            .finish()
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT),
            public_addresses: Vec::new(),
            max_clients: 16,
            tick_rate: DEFAULT_TICK_RATE,
            conditioner: LinkConditioner::default(),
            snapshot_rate: None,
            private_key: None,
        }
    }
}

impl ServerSettings {
    /// What the netcode's `listen` needs of these settings.
    pub fn listen_config(&self) -> ListenConfig {
        ListenConfig {
            public_addresses: self.public_addresses.clone(),
            max_clients: self.max_clients,
            snapshot_rate: self.snapshot_rate,
            conditioner: self.conditioner,
            private_key: self.private_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::ServerSettings;

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
        let settings = ServerSettings {
            private_key: Some(key),
            ..ServerSettings::default()
        };
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let mut forms: Vec<String> = engines.iter().map(|engine| engine.encode(key)).collect();
        forms.push(hex::encode(key));
        forms.push(hex::encode_upper(key));
        // As `[u8; 32]` prints, in any spacing: compared with whitespace removed.
        forms.push(format!("{key:?}"));
        forms.push(format!("{key:x?}"));
        forms.push(key.iter().map(u8::to_string).collect::<Vec<_>>().join(","));
        // A few bytes in a row are already too many.
        forms.push(format!("{},{},{}", key[0], key[1], key[2]));
        forms.push(hex::encode(&key[..4]));
        let forms: Vec<String> = forms
            .into_iter()
            .map(|form| form.split_whitespace().collect())
            .collect();
        for output in [format!("{settings:?}"), format!("{settings:#?}")] {
            let compact: String = output.split_whitespace().collect();
            for form in &forms {
                assert!(!compact.contains(form.as_str()), "{form} in {output}");
            }
            assert!(output.contains("private_key: Some(<redacted>)"), "{output}");
            assert!(
                output.contains("max_clients: 16"),
                "other fields still show: {output}"
            );
        }
        let unsecure = format!("{:?}", ServerSettings::default());
        assert!(unsecure.contains("private_key: None"), "{unsecure}");
    }
}
