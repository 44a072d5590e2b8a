//! Builds the whole application, bound to its port, so `serve` and the tests run the same thing.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use app::state::AppState;
use app::{shell, App};
use axum::http::{HeaderName, HeaderValue};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use hub::config::Config;
use hub::Hub;
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::proxy::{self, ProxyState};
use crate::web;

/// Largest request body accepted by the hub's own routes (forms, server functions).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct Application {
    listener: TcpListener,
    router: Router,
    hub: Hub,
    addr: SocketAddr,
    /// The API-only listener single-user servers call, and its router.
    servers_api: Option<(TcpListener, Router)>,
}

impl Application {
    /// Opens the database (running migrations), binds `config.hub.bind` and assembles the router.
    pub async fn build(config: Config, leptos_options: LeptosOptions) -> anyhow::Result<Self> {
        let began = Instant::now();
        let bind = config.hub.bind;
        let hub = Hub::open(config).await.context("opening the hub's database")?;
        Self::assemble(hub, bind, leptos_options, began).await
    }

    /// Like [`Application::build`] with a hub opened by the caller.
    pub async fn build_with_hub(
        hub: Hub,
        bind: SocketAddr,
        leptos_options: LeptosOptions,
    ) -> anyhow::Result<Self> {
        Self::assemble(hub, bind, leptos_options, Instant::now()).await
    }

    async fn assemble(
        hub: Hub,
        bind: SocketAddr,
        leptos_options: LeptosOptions,
        began: Instant,
    ) -> anyhow::Result<Self> {
        let spawner = hub.spawners().current().context("the configured spawner")?;
        spawner.preflight().await.context("checking what the spawner's configuration needs")?;
        let reconciling = Instant::now();
        if let Err(e) = hub::servers::reconcile(&hub).await {
            tracing::warn!(error = %e, "reconciling servers after start-up failed");
        }
        hub.metrics().spawners_initialised(reconciling.elapsed());
        hub::services::register_clients(&hub).await.context("registering the services' OAuth clients")?;
        let listener = TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let state = AppState { leptos_options, hub: hub.clone() };
        let servers_api = bind_servers_api(&hub).await?.map(|l| (l, servers_api_router(state.clone())));
        let router = router(state);
        hub.metrics().started(began.elapsed());
        Ok(Self { listener, router, hub, addr, servers_api })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let housekeeping = tokio::spawn(crate::housekeeping::run(self.hub.clone()));
        tokio::spawn(crate::housekeeping::discover_provider(self.hub.clone()));
        let activity = tokio::spawn(crate::housekeeping::flush_activity(self.hub.clone()));
        let poller = tokio::spawn(crate::housekeeping::reconcile_servers(self.hub.clone()));
        let lease = tokio::spawn(crate::housekeeping::renew_instance_lease(self.hub.clone()));
        let gpus = tokio::spawn(crate::housekeeping::refresh_gpus(self.hub.clone()));
        let usage = tokio::spawn(crate::housekeeping::sample_usage(self.hub.clone()));
        let kernels = tokio::spawn(crate::housekeeping::poll_kernels(self.hub.clone()));
        let culler = tokio::spawn(crate::housekeeping::cull(self.hub.clone()));
        let event_loop = tokio::spawn(hub::metrics::measure_event_loop(self.hub.clone()));
        let engine = tokio::spawn(crate::housekeeping::watch_engine(self.hub.clone()));
        let overview = tokio::spawn(crate::housekeeping::sample_overview(self.hub.clone()));
        // Managed services call the hub's API on this process's own listener.
        let local = if self.addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), self.addr.port())
        } else {
            self.addr
        };
        let services =
            tokio::spawn(hub::services::supervisor::run(self.hub.clone(), format!("http://{local}/hub/api")));
        let servers_api = self.servers_api.map(|(listener, router)| {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router.into_make_service()).await {
                    tracing::error!(error = %e, "the servers' API listener stopped");
                }
            })
        });
        // Small websocket frames to the browser must not wait for Nagle either.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        // On the signal: no new connections, the websockets through the proxy close (their
        // servers keep running; JupyterLab reconnects), requests in flight get the grace period.
        let hub = self.hub.clone();
        let grace = std::time::Duration::from_secs(hub.config().hub.shutdown_grace_seconds);
        let (signalled, mut on_signal) = tokio::sync::watch::channel(false);
        let serving = axum::serve(listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!(grace_seconds = grace.as_secs(), "stopping: finishing the requests in flight");
                hub.begin_stopping();
                let _ = signalled.send(true);
            })
            .into_future();
        tokio::pin!(serving);
        let result = tokio::select! {
            result = &mut serving => result,
            () = async {
                let _ = on_signal.wait_for(|s| *s).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_seconds = grace.as_secs(), "requests still open after the grace period are cut off");
                Ok(())
            }
        };
        housekeeping.abort();
        activity.abort();
        poller.abort();
        lease.abort();
        gpus.abort();
        usage.abort();
        kernels.abort();
        culler.abort();
        event_loop.abort();
        engine.abort();
        overview.abort();
        services.abort();
        let _ = services.await;
        if let Err(e) = hub::services::supervisor::release_leases(&self.hub).await {
            tracing::warn!(error = %e, "giving up the services' leases failed");
        }
        if let Some(task) = servers_api {
            task.abort();
        }
        crate::housekeeping::flush_once(&self.hub).await;
        if let Err(e) = self.hub.release_leases().await {
            tracing::warn!(error = %e, "giving up the hub's leases failed");
        }
        result
    }
}

/// Every route of the hub, with its middleware. The proxy (`/user/…`) skips the body limit and
/// compression that the hub's own pages get: uploads and downloads stream through untouched.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let hub_routes = Router::new()
        .route("/", get(web::pages::to_home))
        .route("/hub", get(web::pages::to_home))
        .route("/hub/", get(web::pages::to_home))
        .route("/hub/health", get(web::health::health))
        .route("/hub/ready", get(web::health::ready))
        .route("/hub/metrics", get(web::metrics::scrape))
        .route("/hub/api/metrics", get(web::metrics::scrape))
        .route("/hub/oauth_login", get(web::oidc::login))
        .route("/hub/oauth_callback", get(web::oidc::callback))
        .route("/hub/admin/usage.csv", get(web::usage_csv::usage_csv))
        .route("/hub/logout", get(web::jupyterhub_urls::logout))
        .route(
            "/hub/accept-share",
            get(web::jupyterhub_urls::accept_share_page).post(web::jupyterhub_urls::accept_share),
        )
        .route("/hub/user-redirect", get(web::jupyterhub_urls::user_redirect))
        .route("/hub/user-redirect/{*path}", get(web::jupyterhub_urls::user_redirect))
        .route("/hub/spawn", get(web::jupyterhub_urls::spawn_mine))
        .route("/hub/spawn/{user}", get(web::jupyterhub_urls::spawn_user))
        .route("/hub/spawn/{user}/{server}", get(web::jupyterhub_urls::spawn_named))
        .merge(crate::api::router())
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), web::pages::guard))
        .layer(axum::middleware::from_fn(web::server_fn_status::map))
        .layer(axum::middleware::from_fn_with_state(state.clone(), web::metrics::observe))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(CompressionLayer::new());
    let routes = Router::new()
        .merge(proxy::router(ProxyState::new(state.hub.clone())))
        .merge(hub_routes)
        .layer(axum::middleware::from_fn_with_state(state.clone(), web::session::resolve))
        .layer(axum::middleware::from_fn(web::csrf::protect))
        .with_state(state);
    harden(routes)
}

/// Binds the API-only listener single-user servers call, where the spawner's workloads reach
/// the host, when a flavour runs `jupyterhub-singleuser` (and no `hub.servers_api_url` says they
/// reach the hub otherwise). Records `JUPYTERHUB_API_URL` on the hub.
async fn bind_servers_api(hub: &Hub) -> anyhow::Result<Option<TcpListener>> {
    let config = hub.config();
    if let Some(url) = &config.hub.servers_api_url {
        hub.set_internal_api_url(url.trim_end_matches('/').to_owned());
        return Ok(None);
    }
    let wanted = config.flavours.iter().any(|f| f.kind == hub::config::FlavourKind::JupyterhubSingleuser);
    if !wanted {
        return Ok(None);
    }
    let gateway = match hub.spawners().current() {
        Ok(spawner) => spawner.hub_gateway().await,
        Err(e) => Err(e),
    };
    let ip = match gateway {
        Ok(Some(ip)) => ip,
        Ok(None) => config.hub.bind.ip(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell where servers reach the hub; single-user servers will not start");
            return Ok(None);
        }
    };
    let addr = SocketAddr::new(ip, config.hub.servers_api_port);
    let listener =
        TcpListener::bind(addr).await.with_context(|| format!("binding the servers' API on {addr}"))?;
    let bound = listener.local_addr().context("reading the servers' API address")?;
    hub.set_internal_api_url(format!("http://{bound}/hub/api"));
    tracing::info!(address = %bound, "single-user servers reach the hub's API here");
    Ok(Some(listener))
}

/// What single-user servers may call: the REST API (and the OAuth token endpoint), never the
/// pages, the proxy or the session cookie's identity.
fn servers_api_router(state: AppState) -> Router {
    let routes = crate::api::router().layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)).with_state(state);
    harden(routes)
}

/// The outer layers every response passes, whatever its route: odd request forms and methods
/// refused before any handler sees them, a panic answered with 500, the trace span, and
/// `X-JupyterHub-Version` (kept when a server behind the proxy sent its own).
pub fn harden(routes: Router) -> Router {
    routes
        .layer(axum::middleware::from_fn(web::request_form::refuse_odd))
        .layer(web::panics::layer())
        .layer(axum::middleware::from_fn(web::panics::shape))
        .layer(TraceLayer::new_for_http())
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-jupyterhub-version"),
            HeaderValue::from_static(crate::api::JUPYTERHUB_API_VERSION),
        ))
}
