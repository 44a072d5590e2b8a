//! The dashboard's sharing card: share a server with a user or a group, make a link that
//! expires, see and revoke shares, and what others share with you ("Shared with me").

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ids;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareView {
    /// `""` for the default server.
    pub server: String,
    /// `user` or `group`.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedView {
    pub owner: String,
    pub server: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sharing {
    pub servers: Vec<String>,
    pub mine: Vec<ShareView>,
    pub with_me: Vec<SharedView>,
}

#[cfg(feature = "ssr")]
fn server_name(raw: &str) -> Result<hub::domain::ServerName, AppError> {
    hub::domain::ServerName::parse(raw).map_err(|e| AppError::Invalid(e.to_string()))
}

#[cfg(feature = "ssr")]
fn with(kind: &str, name: &str) -> Result<hub::sharing::With, AppError> {
    let name = name.trim().to_owned();
    match kind {
        "user" => Ok(hub::sharing::With::User(name)),
        "group" => Ok(hub::sharing::With::Group(name)),
        other => Err(AppError::Invalid(format!("share with a user or a group, not {other:?}"))),
    }
}

#[server(prefix = "/hub/fn", endpoint = "my_sharing")]
pub async fn my_sharing() -> Result<Sharing, AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let servers = hub::servers::list(&hub, &user).await?.into_iter().map(|s| s.name.to_string()).collect();
    let mine = hub::sharing::of_owner(&hub, &user, None)
        .await?
        .into_iter()
        .map(|s| match (s.user, s.group) {
            (Some(u), _) => ShareView { server: s.server, kind: "user".into(), name: u },
            (None, g) => ShareView { server: s.server, kind: "group".into(), name: g.unwrap_or_default() },
        })
        .collect();
    let with_me = hub::sharing::shared_with(&hub, &user)
        .await?
        .into_iter()
        .map(|s| SharedView { url: s.url(), owner: s.owner, server: s.server })
        .collect();
    Ok(Sharing { servers, mine, with_me })
}

#[server(prefix = "/hub/fn", endpoint = "share_server")]
pub async fn share_server(server: String, kind: String, name: String) -> Result<(), AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let with = with(&kind, &name)?;
    hub::sharing::share(&hub, Some(user.name.as_str()), &user, &server_name(&server)?, &with).await?;
    Ok(())
}

#[server(prefix = "/hub/fn", endpoint = "revoke_share")]
pub async fn revoke_share(server: String, kind: String, name: String) -> Result<(), AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let with = with(&kind, &name)?;
    hub::sharing::revoke(&hub, Some(user.name.as_str()), &user, &server_name(&server)?, Some(&with)).await?;
    Ok(())
}

/// A share link for `server` that lives `hours`; returns its path (`/hub/accept-share?code=…`).
#[server(prefix = "/hub/fn", endpoint = "share_link")]
pub async fn share_link(server: String, hours: i64) -> Result<String, AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let made = hub::sharing::create_code(
        &hub,
        Some(user.name.as_str()),
        &user,
        &server_name(&server)?,
        Some(hours.saturating_mul(3600)),
    )
    .await?;
    Ok(format!("/hub/accept-share?code={}", made.code.expose()))
}

fn label(server: &str) -> String {
    if server.is_empty() {
        "default".to_owned()
    } else {
        server.to_owned()
    }
}

#[component]
pub fn SharingCard() -> impl IntoView {
    let share = ServerAction::<ShareServer>::new();
    let revoke = ServerAction::<RevokeShare>::new();
    let link = ServerAction::<ShareLink>::new();
    let data = Resource::new(move || (share.version().get(), revoke.version().get()), |_| my_sharing());
    view! {
        <div class="card" data-testid=ids::SHARING>
            <h2>"Sharing"</h2>
            <Transition fallback=|| ()>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(s) => {
                        let servers = s.servers.clone();
                        let options = move || servers.iter().map(|n| view! { <option value=n.clone()>{label(n)}</option> }).collect_view();
                        let options_for_link = options.clone();
                        view! {
                            {if s.servers.is_empty() {
                                view! { <p class="muted">"Start a server to share it."</p> }.into_any()
                            } else {
                                view! {
                                    <ActionForm action=share attr:class="limits-form">
                                        <label class="inline-field">"Server "<select name="server">{options()}</select></label>
                                        <label class="inline-field">"with "
                                            <select name="kind"><option value="user">"user"</option><option value="group">"group"</option></select>
                                        </label>
                                        <label class="inline-field">"Name "<input name="name" type="text" size="12" required/></label>
                                        <button type="submit" class="small">"Share"</button>
                                    </ActionForm>
                                    <ActionForm action=link attr:class="limits-form">
                                        <label class="inline-field">"Link to "<select name="server">{options_for_link()}</select></label>
                                        <label class="inline-field">"valid for "
                                            <select name="hours">
                                                <option value="1">"1 hour"</option>
                                                <option value="24" selected>"1 day"</option>
                                                <option value="168">"7 days"</option>
                                            </select>
                                        </label>
                                        <button type="submit" class="small">"Create link"</button>
                                    </ActionForm>
                                }.into_any()
                            }}
                            {(!s.mine.is_empty()).then(|| view! {
                                <ul data-testid=ids::MY_SHARES>
                                    {s.mine.into_iter().map(|m| {
                                        let key = format!("{}:{}:{}", label(&m.server), m.kind, m.name);
                                        let text = format!("{} — shared with {} {}", label(&m.server), m.kind, m.name);
                                        view! {
                                            <li data-share=key>
                                                {text}" "
                                                <ActionForm action=revoke attr:class="inline">
                                                    <input type="hidden" name="server" value=m.server.clone()/>
                                                    <input type="hidden" name="kind" value=m.kind.clone()/>
                                                    <input type="hidden" name="name" value=m.name.clone()/>
                                                    <button type="submit" class="small secondary">"Revoke"</button>
                                                </ActionForm>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            })}
                            <h3>"Shared with me"</h3>
                            {if s.with_me.is_empty() {
                                view! { <p class="muted">"Nothing is shared with you."</p> }.into_any()
                            } else {
                                view! {
                                    <ul data-testid=ids::SHARED_WITH_ME>
                                        {s.with_me.into_iter().map(|w| {
                                            let key = format!("{}/{}", w.owner, w.server);
                                            let text = format!("{}'s {} server", w.owner, label(&w.server));
                                            view! { <li data-shared=key><a href=w.url rel="external">{text}</a></li> }
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                })}
            </Transition>
            {move || link.value().get().map(|r| match r {
                Ok(path) => view! {
                    <p class="notice ok" role="status" data-testid=ids::SHARE_LINK>
                        "Send this link: " <code>{path.clone()}</code>
                    </p>
                }.into_any(),
                Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
            {move || share.value().get().and_then(|r| r.err()).or_else(|| revoke.value().get().and_then(|r| r.err())).map(|e| view! {
                <p class="notice error" role="alert" data-testid=ids::FORM_MESSAGE>{e.to_string()}</p>
            })}
        </div>
    }
}
