use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ids;
use crate::time::format_ms;

/// One of the user's API tokens, as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: i64,
    pub note: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_activity: Option<i64>,
}

#[server(prefix = "/hub/fn", endpoint = "my_tokens")]
pub async fn my_tokens() -> Result<Vec<TokenView>, AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let tokens = hub::tokens::list(&hub, &user).await?;
    Ok(tokens
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            note: t.note,
            scopes: t.requested,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_activity: t.last_activity,
        })
        .collect())
}

/// Creates a token and returns it: the only time it is shown.
#[server(prefix = "/hub/fn", endpoint = "create_token")]
pub async fn create_token(note: String, expires_in: String, scopes: String) -> Result<String, AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let expires = match expires_in.trim() {
        "" | "never" => None,
        s => Some(s.parse::<i64>().map_err(|_| AppError::Invalid("Pick an expiry from the list.".into()))?),
    };
    let scopes: Vec<String> =
        scopes.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let scopes = (!scopes.is_empty()).then_some(scopes);
    let new =
        hub::tokens::create(&hub, Some(user.name.as_str()), &user, note.trim(), expires, scopes).await?;
    Ok(new.token.expose().to_owned())
}

#[server(prefix = "/hub/fn", endpoint = "revoke_token")]
pub async fn revoke_token(id: i64) -> Result<(), AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    if hub::tokens::revoke(&hub, Some(user.name.as_str()), &user, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound("There is no such token.".into()))
    }
}

/// `/hub/token`: your API tokens — create (note, expiry, scopes), list, revoke.
#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| my_tokens());
    view! {
        <section class="card">
            <h1>"API tokens"</h1>
            <p class="muted">"Tokens let scripts and tools use the hub's REST API as you (" <code>"Authorization: token …"</code> ")."</p>
            <ActionForm action=create>
                <label for="note">"Note"</label>
                <input id="note" name="note" type="text" placeholder="what the token is for"/>
                <label for="expires_in">"Expires"</label>
                <select id="expires_in" name="expires_in">
                    <option value="never">"Never"</option>
                    <option value="3600">"In 1 hour"</option>
                    <option value="86400">"In 1 day"</option>
                    <option value="604800">"In 1 week"</option>
                    <option value="2592000">"In 30 days"</option>
                </select>
                <label for="scopes">"Scopes (optional; default: everything you may do)"</label>
                <input id="scopes" name="scopes" type="text" placeholder="e.g. read:users!user=you, servers!user=you"/>
                <button type="submit" class="primary">"Create token"</button>
            </ActionForm>
            {move || create.value().get().map(|r| match r {
                Ok(token) => view! {
                    <div class="notice ok" role="status">
                        <p>"Your new token — copy it now, it will not be shown again:"</p>
                        <code data-testid=ids::NEW_TOKEN class="token">{token}</code>
                    </div>
                }.into_any(),
                Err(e) => view! { <p class="notice error" role="alert" data-testid=ids::FORM_MESSAGE>{e.to_string()}</p> }.into_any(),
            })}
        </section>
        <section class="card">
            <h2>"Your tokens"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || tokens.get().map(|r| match r {
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="muted">"No tokens yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table" data-testid=ids::TOKENS>
                            <thead><tr>
                                <th scope="col">"Note"</th><th scope="col">"Scopes"</th><th scope="col">"Created"</th>
                                <th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col"></th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|t| view! {
                                    <tr data-token=t.id.to_string()>
                                        <td>{t.note.clone()}</td>
                                        <td>{t.scopes.join(", ")}</td>
                                        <td>{format_ms(t.created_at)}</td>
                                        <td>{t.expires_at.map(format_ms).unwrap_or_else(|| "never".into())}</td>
                                        <td>{t.last_activity.map(format_ms).unwrap_or_else(|| "never".into())}</td>
                                        <td>
                                            <ActionForm action=revoke>
                                                <input type="hidden" name="id" value=t.id.to_string()/>
                                                <button type="submit">"Revoke"</button>
                                            </ActionForm>
                                        </td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}
