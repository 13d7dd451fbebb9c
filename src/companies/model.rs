//! Rows of `companies`, `roles` and `memberships`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{companies, memberships, roles};

/// A company (tenant).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = companies)]
pub struct CompanyRow {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub industry: Option<String>,
    pub size: Option<String>,
    pub website: Option<String>,
    pub logo_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether members reach the company's data only with two-factor sign-in on.
    pub require_two_factor: bool,
}

/// A company to create.
#[derive(Debug, Insertable)]
#[diesel(table_name = companies)]
pub struct NewCompany<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub slug: &'a str,
    pub industry: Option<&'a str>,
    pub size: Option<&'a str>,
    pub website: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Company fields to change: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = companies)]
pub struct CompanyChanges {
    pub name: Option<String>,
    pub industry: Option<Option<String>>,
    pub size: Option<Option<String>>,
    pub website: Option<Option<String>>,
    pub logo_url: Option<Option<String>>,
    pub require_two_factor: Option<bool>,
}

/// The five roles every company has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltIn {
    Owner,
    Admin,
    Manager,
    Editor,
    Viewer,
}

impl BuiltIn {
    /// Every built-in role, most powerful first.
    pub const ALL: [Self; 5] = [
        Self::Owner,
        Self::Admin,
        Self::Manager,
        Self::Editor,
        Self::Viewer,
    ];

    /// The value stored in `roles.built_in`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    /// Reads `roles.built_in`.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == value)
    }

    /// The role's name as companies first see it.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Admin => "Admin",
            Self::Manager => "Manager",
            Self::Editor => "Editor",
            Self::Viewer => "Viewer",
        }
    }

    /// What the role is for, shown beside it.
    pub fn description(self) -> &'static str {
        match self {
            Self::Owner => "Full control, including deleting the company and transferring ownership",
            Self::Admin => "Manages members, invitations, roles and every project",
            Self::Manager => "Runs projects and their data; sees the team",
            Self::Editor => "Enters and edits data in projects",
            Self::Viewer => "Reads projects and their data",
        }
    }
}

/// A role of one company: built-in or custom.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = roles)]
pub struct RoleRow {
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    pub built_in: Option<String>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl RoleRow {
    /// The built-in role this row is, if it is one.
    pub fn built_in(&self) -> Option<BuiltIn> {
        self.built_in.as_deref().and_then(BuiltIn::parse)
    }
}

/// A role to create.
#[derive(Debug, Insertable)]
#[diesel(table_name = roles)]
pub struct NewRole<'a> {
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: &'a str,
    pub built_in: Option<&'a str>,
    pub description: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

/// A user's membership of a company, with their company-wide role.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = memberships)]
pub struct MembershipRow {
    pub id: Uuid,
    pub company_id: Uuid,
    pub user_id: Uuid,
    pub role_id: Uuid,
    pub joined_at: DateTime<Utc>,
}

/// A membership to create.
#[derive(Debug, Insertable)]
#[diesel(table_name = memberships)]
pub struct NewMembership {
    pub id: Uuid,
    pub company_id: Uuid,
    pub user_id: Uuid,
    pub role_id: Uuid,
    pub joined_at: DateTime<Utc>,
}
