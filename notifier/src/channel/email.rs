//! E-mail over SMTP (lettre): STARTTLS required by default, implicit TLS with `smtps://`, AUTH when a username
//! is set. The delivery's body is `{subject, text}`; the `Message-ID` is derived from the delivery, so a message
//! sent once more after a crash carries the same id and mail clients show it once.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{ChannelError, Outcome, error_chain};
use crate::config::ChannelConfig;
use crate::outbox::Pending;

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
}

impl EmailSender {
    pub fn build(name: &str, config: &ChannelConfig, timeout: Duration) -> Result<EmailSender, ChannelError> {
        let invalid = |reason: String| ChannelError::Invalid { channel: name.to_string(), reason };
        let ChannelConfig::Email { server, username, password, ca_file, from, to, .. } = config else {
            return Err(invalid("not an e-mail channel".into()));
        };
        let host = server.host_str().ok_or_else(|| invalid("`server` has no host".into()))?.to_string();
        let tls_parameters = || -> Result<TlsParameters, ChannelError> {
            let mut builder = TlsParameters::builder(host.clone());
            if let Some(path) = ca_file {
                let pem =
                    std::fs::read(path).map_err(|e| invalid(format!("cannot read caFile {}: {e}", path.display())))?;
                let certificate = Certificate::from_pem(&pem)
                    .map_err(|e| invalid(format!("caFile {} is not a PEM certificate: {e}", path.display())))?;
                builder = builder.add_root_certificate(certificate);
            }
            builder.build_rustls().map_err(|e| invalid(format!("TLS settings: {e}")))
        };
        let (tls, default_port) = match server.scheme() {
            "smtp" => (Tls::Required(tls_parameters()?), 587),
            "smtps" => (Tls::Wrapper(tls_parameters()?), 465),
            "smtp+insecure" => (Tls::None, 25),
            other => {
                return Err(invalid(format!(
                    "`server` must be smtp://, smtps:// or smtp+insecure://, not `{other}://`"
                )));
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(server.port().unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(timeout));
        match (username, password) {
            (Some(user), Some(password)) => {
                let password =
                    password.resolve().map_err(|source| ChannelError::Secret { channel: name.to_string(), source })?;
                builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
            }
            (None, None) => {}
            _ => return Err(invalid("`username` and `password` go together".into())),
        }
        let mailbox = |text: &str| text.parse().map_err(|e| invalid(format!("`{text}` is not an e-mail address: {e}")));
        if to.is_empty() {
            return Err(invalid("`to` names no recipient".into()));
        }
        Ok(EmailSender {
            transport: builder.build(),
            from: mailbox(from)?,
            to: to.iter().map(|t| mailbox(t)).collect::<Result<_, _>>()?,
        })
    }

    pub async fn send(&self, delivery: &Pending) -> Outcome {
        let body: serde_json::Value = match serde_json::from_str(&delivery.body) {
            Ok(body) => body,
            Err(e) => return Outcome::Permanent { error: format!("the stored message is not JSON: {e}") },
        };
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(body["subject"].as_str().unwrap_or_default())
            .message_id(Some(format!("<{}@tekton-graph.notifier>", delivery.idempotency_key())))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = match message.body(body["text"].as_str().unwrap_or_default().to_string()) {
            Ok(message) => message,
            Err(e) => return Outcome::Permanent { error: format!("cannot build the message: {e}") },
        };
        match self.transport.send(message).await {
            Ok(_) => Outcome::Sent { response: None, pause: None },
            Err(e) if e.is_permanent() => Outcome::Permanent { error: format!("SMTP: {e}") },
            Err(e) => Outcome::Retry { error: format!("SMTP: {}", error_chain(&e)), after: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(yaml: &str) -> Result<EmailSender, String> {
        let config: ChannelConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        EmailSender::build("mail", &config, Duration::from_secs(1)).map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn settings_are_checked_when_the_channel_is_built() {
        let base = "type: email\nfrom: ci@example.org\n";
        assert!(build(&format!("{base}server: smtp://mail.example.org\nto: [a@example.org]")).is_ok());
        for (extra, reason) in [
            ("server: http://mail.example.org\nto: [a@example.org]", "must be smtp://"),
            ("server: smtp://mail.example.org\nto: []", "no recipient"),
            ("server: smtp://mail.example.org\nto: [not an address]", "`not an address` is not an e-mail address"),
            ("server: smtp://mail.example.org\nto: [a@example.org]\nusername: ci", "go together"),
            (
                "server: smtps://mail.example.org\nto: [a@example.org]\ncaFile: /nonexistent/ca.pem",
                "cannot read caFile",
            ),
        ] {
            let error = build(&format!("{base}{extra}")).err().unwrap_or_default();
            assert!(error.contains(reason), "{extra}: {error}");
        }
    }
}
