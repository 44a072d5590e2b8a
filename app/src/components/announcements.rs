//! Admins' announcements above the page: the sign-in page shows those for it and for every page,
//! the dashboard likewise, other pages those for every page. The Markdown is rendered on the
//! server, safely: raw HTML is shown as text, links only to http(s), mailto or the hub's own
//! paths, no images.

use leptos::prelude::*;
use leptos_router::hooks::use_location;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ids;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncementView {
    pub id: i64,
    /// Rendered from the Markdown, safe to insert.
    pub html: String,
    pub body: String,
    pub placement: String,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub expires_at: Option<i64>,
}

/// What `page` (`login`, `dashboard` or `other`) shows now; no sign-in needed (the sign-in page
/// shows them).
#[server(prefix = "/hub/fn", endpoint = "announcements")]
pub async fn announcements(page: String) -> Result<Vec<AnnouncementView>, AppError> {
    use hub::announcements::Page;
    let hub = crate::state::hub()?;
    let page = match page.as_str() {
        "login" => Page::Login,
        "dashboard" => Page::Dashboard,
        _ => Page::Other,
    };
    Ok(hub::announcements::shown_on(&hub, page).await?.into_iter().map(ssr::view).collect())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

    use super::AnnouncementView;

    pub fn view(a: hub::announcements::Announcement) -> AnnouncementView {
        AnnouncementView {
            id: a.id,
            html: render(&a.body),
            body: a.body,
            placement: a.placement.as_str().to_owned(),
            created_at: a.created_at,
            created_by: a.created_by,
            expires_at: a.expires_at,
        }
    }

    /// A link's target if it is http(s), mailto or a path of the hub; else `#`.
    fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
        let lower = url.trim().to_ascii_lowercase();
        let allowed = lower.starts_with("https://")
            || lower.starts_with("http://")
            || lower.starts_with("mailto:")
            || (lower.starts_with('/') && !lower.starts_with("//"));
        if allowed {
            url
        } else {
            CowStr::Borrowed("#")
        }
    }

    /// Markdown to HTML that runs nothing: HTML in the text is escaped, links are checked,
    /// images become their alt text.
    pub fn render(markdown: &str) -> String {
        let events = Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES)
            .filter_map(|event| match event {
                Event::Html(text) | Event::InlineHtml(text) => Some(Event::Text(text)),
                Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                    Some(Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id }))
                }
                Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
                other => Some(other),
            });
        let mut out = String::new();
        html::push_html(&mut out, events);
        out
    }

    #[cfg(test)]
    mod tests {
        use super::render;

        #[test]
        fn markdown_renders_and_nothing_in_it_runs() {
            assert_eq!(render("**Maintenance** at 18:00"), "<p><strong>Maintenance</strong> at 18:00</p>\n");
            let html = render("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>");
            assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
            assert!(html.contains("&lt;script&gt;"), "{html}");
            let link = render("[docs](https://example.org/a) [bad](javascript:alert(1)) [home](/hub/home)");
            assert!(link.contains("href=\"https://example.org/a\""), "{link}");
            assert!(link.contains("href=\"#\"") && !link.contains("javascript"), "{link}");
            assert!(link.contains("href=\"/hub/home\""), "{link}");
            let image = render("![the plan](http://tracker.example/pixel.png)");
            assert!(!image.contains("<img") && image.contains("the plan"), "{image}");
        }
    }
}

/// The announcements of the page being shown.
#[component]
pub fn Announcements() -> impl IntoView {
    let location = use_location();
    let page = move || match location.pathname.get().trim_end_matches('/') {
        "/hub/login" => "login",
        "/hub/home" => "dashboard",
        _ => "other",
    };
    let list = Resource::new(page, |page| announcements(page.to_owned()));
    view! {
        <Transition fallback=|| ()>
            {move || list.get().and_then(Result::ok).filter(|l| !l.is_empty()).map(|l| view! {
                <div class="announcements" data-testid=ids::ANNOUNCEMENTS>
                    {l.into_iter().map(|a| view! {
                        <div class="announcement" role="status" data-id=a.id.to_string() inner_html=a.html></div>
                    }).collect_view()}
                </div>
            })}
        </Transition>
    }
}
