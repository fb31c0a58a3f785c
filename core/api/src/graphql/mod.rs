//! The GraphQL API at `/graphql` (GraphiQL in a browser on GET).
//!
//! Authorization is visible where each field is declared: fields that need a
//! permission carry a `guard = "Can(Action::…)"` attribute, and resolvers of
//! departmental actions check the department of the request they touch with
//! [`Ctx::require`] before doing anything. Every error carries
//! `extensions.code` (see `docs/errors.md`).

mod account;
mod admin;
mod mutation;
mod plugins;
mod query;
mod search;
mod types;

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql::{Context, EmptySubscription, Guard, MergedObject, Schema};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Extension;
use axum::extract::State;
use axum::response::{Html, IntoResponse};
use townhall_access::{Action, Principal};
use townhall_store::Jurisdiction;

use crate::auth::AuthContext;
use crate::error::{ApiError, GqlResultExt};
use crate::state::ApiState;

#[derive(MergedObject, Default)]
pub struct Query(
    query::RequestQuery,
    search::SearchQueryRoot,
    account::AccountQuery,
    admin::AdminQuery,
    plugins::PluginQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    mutation::RequestMutation,
    account::AccountMutation,
    admin::AdminMutation,
    plugins::PluginMutation,
);

pub type TownhallSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(state: Arc<ApiState>) -> TownhallSchema {
    let depth = state.config.graphql_max_depth;
    let complexity = state.config.graphql_max_complexity;
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(state)
        .limit_depth(depth)
        .limit_complexity(complexity)
        .finish()
}

/// The schema in SDL, for documentation and snapshot tests.
pub fn sdl(state: Arc<ApiState>) -> String {
    schema(state).sdl()
}

pub async fn graphql(
    State(schema): State<TownhallSchema>,
    Extension(auth): Extension<AuthContext>,
    req: GraphQLRequest,
) -> GraphQLResponse {
    schema.execute(req.into_inner().data(auth)).await.into()
}

pub async fn graphiql() -> impl IntoResponse {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("Townhall GraphQL")
            .finish(),
    )
}

/// What a resolver needs: the state and who is calling.
pub(crate) struct Ctx<'a> {
    pub state: &'a Arc<ApiState>,
    pub auth: &'a AuthContext,
}

pub(crate) fn ctx<'a>(c: &'a Context<'_>) -> async_graphql::Result<Ctx<'a>> {
    let state = c
        .data::<Arc<ApiState>>()
        .map_err(|_| ApiError::internal("api state missing").into_graphql())?;
    let auth = c
        .data::<AuthContext>()
        .map_err(|_| ApiError::internal("auth context missing").into_graphql())?;
    Ok(Ctx { state, auth })
}

impl Ctx<'_> {
    pub fn who(&self) -> &Principal {
        &self.auth.principal
    }

    pub fn can(&self, action: Action, department: Option<&str>) -> bool {
        self.state.access.can(self.who(), action, department)
    }

    /// Refuses unless the caller may do `action` in `department`:
    /// UNAUTHENTICATED for anonymous callers, FORBIDDEN for others.
    pub fn require(&self, action: Action, department: Option<&str>) -> async_graphql::Result<()> {
        if self.can(action, department) {
            return Ok(());
        }
        Err(if self.who().is_anonymous() {
            ApiError::unauthenticated()
        } else {
            ApiError::forbidden()
        }
        .into_graphql())
    }

    pub async fn jurisdiction(&self, requested: Option<&str>) -> async_graphql::Result<Jurisdiction> {
        self.state.intake.catalog().jurisdiction(requested).await.gql()
    }

    /// Every department code of a jurisdiction (for "in any department" checks).
    pub async fn department_codes(&self, jurisdiction_id: &str) -> async_graphql::Result<Vec<String>> {
        Ok(self
            .state
            .store()
            .departments(jurisdiction_id)
            .await
            .gql()?
            .into_iter()
            .map(|d| d.code)
            .collect())
    }

    /// Departments where the caller may do `action` (`["*"]` = all).
    pub async fn departments_for(&self, action: Action, jurisdiction_id: &str) -> async_graphql::Result<Vec<String>> {
        let all = self.department_codes(jurisdiction_id).await?;
        Ok(self.state.access.authorizer().departments_for(self.who(), action, &all))
    }
}

/// A field guard: the caller may do `Action` somewhere (for departmental
/// actions the resolver then checks the exact department).
pub(crate) struct Can(pub Action);

impl Guard for Can {
    async fn check(&self, c: &Context<'_>) -> async_graphql::Result<()> {
        let cx = ctx(c)?;
        if cx.can(self.0, None) {
            return Ok(());
        }
        if self.0.is_departmental() {
            let codes = cx.state.store().all_department_codes().await.gql()?;
            if cx.state.access.authorizer().can_somewhere(cx.who(), self.0, &codes) {
                return Ok(());
            }
        }
        Err(if cx.who().is_anonymous() {
            ApiError::unauthenticated()
        } else {
            ApiError::forbidden()
        }
        .into_graphql())
    }
}
