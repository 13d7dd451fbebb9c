//! Who is calling, from where, in which request: the one identity every service receives,
//! whichever transport brought the call. Services ask it for a verified person
//! ([`Caller::verified`]) or for whoever acts in a company, a person or an integration's API
//! key ([`Caller::acting`]), and never look at transports or tokens themselves.

use uuid::Uuid;

use crate::db::scope::Scope;
use crate::error::{AppError, AppResult};

/// The caller of one operation.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub client: ClientInfo,
    /// The id the log, the `x-request-id` header and INTERNAL errors carry.
    pub request_id: String,
}

/// Whom an operation acts for.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    User(SignedInUser),
    ApiKey(KeyHolder),
}

/// A caller that presented a live API key: an integration acting in one company with the
/// key's role. It is no person: it has no session, profile or notifications.
#[derive(Debug, Clone, Copy)]
pub struct KeyHolder {
    pub key_id: Uuid,
    pub company_id: Uuid,
    /// The key may run only documents registered in advance.
    pub persisted_only: bool,
}

impl KeyHolder {
    /// The key as the actor of what it does.
    pub fn actor(&self) -> Actor {
        Actor::ApiKey {
            key_id: self.key_id,
            company_id: self.company_id,
        }
    }
}

/// Who acts in a company: the person or the API key that permission checks ask about and
/// that activity and rows name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    User(Uuid),
    ApiKey { key_id: Uuid, company_id: Uuid },
}

impl Actor {
    /// The person acting (None: a key).
    pub fn user_id(self) -> Option<Uuid> {
        match self {
            Self::User(user_id) => Some(user_id),
            Self::ApiKey { .. } => None,
        }
    }

    /// The key acting (None: a person).
    pub fn api_key_id(self) -> Option<Uuid> {
        match self {
            Self::User(_) => None,
            Self::ApiKey { key_id, .. } => Some(key_id),
        }
    }

    /// The person acting, or FORBIDDEN for a key: acts that belong to people (their own
    /// account, membership, sessions, companies they create) are not an integration's.
    pub fn person(self) -> AppResult<Uuid> {
        self.user_id().ok_or_else(person_only)
    }

    /// The rows a transaction for this actor reaches: the person's companies, or the key's.
    pub fn scope(self) -> Scope {
        match self {
            Self::User(user_id) => Scope::Person(user_id),
            Self::ApiKey { company_id, .. } => Scope::Company(company_id),
        }
    }

    /// The id the actor's standing is remembered under (users and keys never share one).
    pub fn id(self) -> Uuid {
        match self {
            Self::User(user_id) => user_id,
            Self::ApiKey { key_id, .. } => key_id,
        }
    }
}

/// Who asked for a signed download link (an export): the link works only while that
/// session or key still acts, and its rights are checked again when it is fetched.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum LinkRequester {
    Session { user: Uuid, session: Uuid },
    Key { key: Uuid, company: Uuid },
}

impl LinkRequester {
    /// The rows a transaction serving the link reaches: the session's person's companies,
    /// or the key's company.
    pub fn scope(self) -> Scope {
        match self {
            Self::Session { user, .. } => Scope::Person(user),
            Self::Key { company, .. } => Scope::Company(company),
        }
    }

    /// The caller as a link's requester: a verified person's session, or a key.
    pub fn of(caller: &Caller) -> AppResult<Self> {
        match &caller.principal {
            Principal::ApiKey(key) => Ok(Self::Key {
                key: key.key_id,
                company: key.company_id,
            }),
            _ => {
                let user = caller.verified()?;
                Ok(Self::Session {
                    user: user.user_id,
                    session: user.session_id,
                })
            }
        }
    }
}

/// FORBIDDEN for an API key asking for what only a person may do.
fn person_only() -> AppError {
    AppError::forbidden("an API key cannot do this: it needs a person's session")
}

/// A caller with a valid access token for a live session.
#[derive(Debug, Clone)]
pub struct SignedInUser {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub email_verified: bool,
}

/// Where a request came from, recorded on sessions and used for per-address rate limits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The caller of an operation that brought no context (an anonymous stranger).
pub static ANONYMOUS: Caller = Caller {
    principal: Principal::Anonymous,
    client: ClientInfo {
        ip: None,
        user_agent: None,
    },
    request_id: String::new(),
};

impl Caller {
    /// The rows a transaction for this caller reaches: a signed-in person's companies, a
    /// key's company, or (anonymous) no company.
    pub fn scope(&self) -> Scope {
        match &self.principal {
            Principal::Anonymous => Scope::Nobody,
            Principal::User(user) => Scope::Person(user.user_id),
            Principal::ApiKey(key) => Scope::Company(key.company_id),
        }
    }

    /// The signed-in user, or UNAUTHENTICATED (FORBIDDEN for an API key).
    pub fn signed_in(&self) -> AppResult<&SignedInUser> {
        match &self.principal {
            Principal::User(user) => Ok(user),
            Principal::ApiKey(_) => Err(person_only()),
            Principal::Anonymous => Err(AppError::unauthenticated("sign in to use this operation")),
        }
    }

    /// Whoever acts in a company: a verified user or an API key; UNAUTHENTICATED or
    /// EMAIL_NOT_VERIFIED otherwise.
    pub fn acting(&self) -> AppResult<Actor> {
        match &self.principal {
            Principal::ApiKey(key) => Ok(key.actor()),
            _ => self.verified().map(|user| Actor::User(user.user_id)),
        }
    }

    /// The actor whose standing the authorizer reads: any signed-in user (verified or
    /// not: the services hold back the unverified) or a key; None when anonymous.
    pub fn actor(&self) -> Option<Actor> {
        match &self.principal {
            Principal::User(user) => Some(Actor::User(user.user_id)),
            Principal::ApiKey(key) => Some(key.actor()),
            Principal::Anonymous => None,
        }
    }

    /// The API key calling, if it is one.
    pub fn key(&self) -> Option<&KeyHolder> {
        match &self.principal {
            Principal::ApiKey(key) => Some(key),
            _ => None,
        }
    }

    /// The signed-in user with a verified address (most operations need one, see the
    /// contract's header), or UNAUTHENTICATED / EMAIL_NOT_VERIFIED.
    pub fn verified(&self) -> AppResult<&SignedInUser> {
        let user = self.signed_in()?;
        if user.email_verified {
            Ok(user)
        } else {
            Err(AppError::email_not_verified())
        }
    }

    /// The signed-in user's id (None: anonymous).
    pub fn user_id(&self) -> Option<Uuid> {
        match &self.principal {
            Principal::User(user) => Some(user.user_id),
            Principal::ApiKey(_) | Principal::Anonymous => None,
        }
    }
}
