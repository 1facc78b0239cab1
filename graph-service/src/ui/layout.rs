//! The page shell (header, navigation, search, theme, live indicator) and the error page.

use maud::{DOCTYPE, Markup, html};

/// Which top-level section a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Runs,
    Systems,
    None,
}

/// A whole page. `live` names what the page shows for live updates (`all`, `run:NS/NAME`, …; empty for none).
pub fn shell(title: &str, nav: Nav, live: &str, body: Markup) -> Markup {
    let current = |n: Nav| if n == nav { Some("page") } else { None };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · tekton-graph" }
                link rel="stylesheet" href="/ui/assets/app.css";
                script src="/ui/assets/app.js" defer {}
            }
            body {
                a.skip-link href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "tekton-graph" }
                    nav aria-label="Sections" {
                        a href="/" aria-current=[current(Nav::Runs)] { "Runs" }
                        a href="/systems" aria-current=[current(Nav::Systems)] { "Systems" }
                        a href="/graphql" { "GraphQL" }
                    }
                    form action="/search" method="get" role="search" {
                        label for="search" class="skip-link" { "Search" }
                        input #search type="search" name="q" placeholder="digest, repo@sha, namespace/run, pipeline  ( / )"
                            aria-label="Search by image digest, repo@commit, namespace/run, pipeline or system";
                        button type="submit" { "Go" }
                    }
                    button #theme-toggle.quiet type="button" title="Toggle light/dark theme (t)" aria-label="Toggle theme" { "◐" }
                    span title="Live updates" { span #live-dot.live-dot {} span.hint { "live" } }
                }
                main #main data-live=[(!live.is_empty()).then_some(live)] { (body) }
                footer {
                    "Keys: " kbd { "/" } " search · " kbd { "j" } "/" kbd { "k" } " move in tables · "
                    kbd { "Enter" } " open · " kbd { "t" } " theme"
                }
            }
        }
    }
}

pub fn error_body(title: &str, detail: &str) -> Markup {
    html! {
        h1 { (title) }
        p.panel { (detail) }
        p { a href="/" { "← All runs" } }
    }
}

/// An empty state: what is missing and what to do about it.
pub fn empty(message: &str) -> Markup {
    html! { div.empty.panel { (message) } }
}
