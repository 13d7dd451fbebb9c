// Diesel table definitions, in the shape `diesel print-schema` writes (diesel.toml); the test
// `schema::the_diesel_schema_describes_every_migrated_table_and_column` holds them to the migrations.

diesel::table! {
    activity_events (seq) {
        seq -> Int8,
        id -> Uuid,
        company_id -> Uuid,
        project_id -> Nullable<Uuid>,
        actor_id -> Nullable<Uuid>,
        verb -> Text,
        target_type -> Text,
        target_id -> Uuid,
        summary -> Text,
        data -> Nullable<Jsonb>,
        visible_with -> Text,
        created_at -> Timestamptz,
        api_key_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    notifications (seq) {
        seq -> Int8,
        id -> Uuid,
        user_id -> Uuid,
        company_id -> Nullable<Uuid>,
        kind -> Text,
        title -> Text,
        body -> Text,
        link -> Nullable<Text>,
        read_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    row_changes (event_seq, row_id) {
        event_seq -> Int8,
        row_id -> Uuid,
        table_id -> Uuid,
        kind -> Text,
    }
}

diesel::table! {
    cycles (id) {
        id -> Uuid,
        project_id -> Uuid,
        name -> Text,
        starts_on -> Date,
        ends_on -> Date,
        closed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        company_id -> Uuid,
        role_id -> Uuid,
        name -> Text,
        public_id -> Text,
        secret_hash -> Bytea,
        last_four -> Text,
        persisted_only -> Bool,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Uuid,
        company_id -> Nullable<Uuid>,
        actor_id -> Nullable<Uuid>,
        actor_deleted -> Bool,
        api_key_id -> Nullable<Uuid>,
        action -> Text,
        target_type -> Text,
        target_id -> Nullable<Uuid>,
        changes -> Nullable<Jsonb>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    companies (id) {
        id -> Uuid,
        name -> Text,
        slug -> Text,
        industry -> Nullable<Text>,
        size -> Nullable<Text>,
        website -> Nullable<Text>,
        logo_url -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        require_two_factor -> Bool,
    }
}

diesel::table! {
    data_fields (id) {
        id -> Uuid,
        table_id -> Uuid,
        key -> Text,
        label -> Text,
        field_type -> Text,
        required -> Bool,
        is_unique -> Bool,
        position -> Int4,
        options -> Nullable<Jsonb>,
        min_value -> Nullable<Float8>,
        max_value -> Nullable<Float8>,
        pattern -> Nullable<Text>,
        reference_table_id -> Nullable<Uuid>,
        formula -> Nullable<Text>,
        restricted -> Bool,
        created_at -> Timestamptz,
        unit -> Nullable<Text>,
        total -> Bool,
    }
}

diesel::table! {
    data_imports (id) {
        id -> Uuid,
        table_id -> Uuid,
        cycle_id -> Nullable<Uuid>,
        actor_id -> Nullable<Uuid>,
        mode -> Text,
        status -> Text,
        lines -> Int4,
        inserted -> Int4,
        rejected -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    data_row_uniques (field_id, value) {
        field_id -> Uuid,
        value -> Text,
        row_id -> Uuid,
    }
}

diesel::table! {
    data_rows (id) {
        id -> Uuid,
        table_id -> Uuid,
        cycle_id -> Nullable<Uuid>,
        cells -> Jsonb,
        version -> Int4,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by_api_key -> Nullable<Uuid>,
        calc_version -> Int4,
    }
}

diesel::table! {
    data_tables (id) {
        id -> Uuid,
        project_id -> Uuid,
        module_id -> Nullable<Uuid>,
        name -> Text,
        description -> Nullable<Text>,
        schema_version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        calc_version -> Int4,
        company_id -> Uuid,
    }
}

diesel::table! {
    table_recalculations (table_id) {
        table_id -> Uuid,
        company_id -> Uuid,
        project_id -> Uuid,
        calc_version -> Int4,
        reason -> Text,
        requested_at -> Timestamptz,
        total -> Int8,
        done -> Int8,
        changed -> Int8,
        failed -> Int8,
        failures -> Jsonb,
        after_created_at -> Nullable<Timestamptz>,
        after_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    emission_factors (id) {
        id -> Uuid,
        company_id -> Nullable<Uuid>,
        key -> Text,
        label -> Text,
        value -> Numeric,
        unit -> Text,
        basis -> Nullable<Text>,
        source -> Text,
        source_year -> Nullable<Int4>,
        licence -> Nullable<Text>,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    invitations (id) {
        id -> Uuid,
        company_id -> Uuid,
        email -> Text,
        role_id -> Uuid,
        invited_by -> Nullable<Uuid>,
        message -> Nullable<Text>,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        accepted_by -> Nullable<Uuid>,
        revoked_at -> Nullable<Timestamptz>,
        replaced_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Int8,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        text_body -> Nullable<Text>,
        html_body -> Nullable<Text>,
        action_url -> Nullable<Text>,
        created_at -> Timestamptz,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        failed_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    memberships (id) {
        id -> Uuid,
        company_id -> Uuid,
        user_id -> Uuid,
        role_id -> Uuid,
        joined_at -> Timestamptz,
    }
}

diesel::table! {
    modules (id) {
        id -> Uuid,
        project_id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        scope -> Nullable<Int4>,
        position -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    project_role_grants (project_id, user_id) {
        project_id -> Uuid,
        user_id -> Uuid,
        role_id -> Uuid,
        granted_at -> Timestamptz,
    }
}

diesel::table! {
    projects (id) {
        id -> Uuid,
        company_id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        archived_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    persisted_documents (sha256) {
        sha256 -> Text,
        body -> Text,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
    }
}

diesel::table! {
    registered_documents (id) {
        id -> Uuid,
        company_id -> Nullable<Uuid>,
        sha256 -> Text,
        body -> Text,
        name -> Nullable<Text>,
        operation_type -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        created_by_api_key -> Nullable<Uuid>,
    }
}

diesel::table! {
    rate_limit_hits (id) {
        id -> Int8,
        bucket -> Text,
        key -> Text,
        hit_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    role_permissions (role_id, resource, action) {
        role_id -> Uuid,
        resource -> Text,
        action -> Text,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Uuid,
        code_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    roles (id) {
        id -> Uuid,
        company_id -> Uuid,
        name -> Text,
        built_in -> Nullable<Text>,
        description -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    schema_changes (id) {
        id -> Uuid,
        table_id -> Uuid,
        actor_id -> Nullable<Uuid>,
        change -> Text,
        field_key -> Text,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        schema_version -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    user_totp (user_id) {
        user_id -> Uuid,
        secret_sealed -> Nullable<Bytea>,
        pending_sealed -> Nullable<Bytea>,
        last_step -> Nullable<Int8>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    user_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        purpose -> Text,
        token_hash -> Bytea,
        new_email -> Nullable<Text>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Nullable<Text>,
        name -> Text,
        password_hash -> Nullable<Text>,
        email_verified_at -> Nullable<Timestamptz>,
        phone -> Nullable<Text>,
        bio -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        preferences -> Jsonb,
        totp_enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_login_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
        active_company_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        webhook_id -> Uuid,
        event_id -> Uuid,
        verb -> Text,
        status -> Text,
        attempts -> Int4,
        response_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        last_attempt_at -> Nullable<Timestamptz>,
        next_attempt_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Uuid,
        company_id -> Uuid,
        role_id -> Uuid,
        url -> Text,
        events -> Array<Text>,
        secret_sealed -> Bytea,
        active -> Bool,
        disabled_reason -> Nullable<Text>,
        busy_until -> Nullable<Timestamptz>,
        busy_token -> Nullable<Uuid>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(api_keys -> companies (company_id));
diesel::joinable!(api_keys -> roles (role_id));
diesel::joinable!(api_keys -> users (created_by));
diesel::joinable!(cycles -> projects (project_id));
diesel::joinable!(data_imports -> data_tables (table_id));
diesel::joinable!(data_row_uniques -> data_rows (row_id));
diesel::joinable!(data_rows -> cycles (cycle_id));
diesel::joinable!(data_rows -> data_tables (table_id));
diesel::joinable!(data_tables -> modules (module_id));
diesel::joinable!(data_tables -> projects (project_id));
diesel::joinable!(emission_factors -> companies (company_id));
diesel::joinable!(invitations -> companies (company_id));
diesel::joinable!(invitations -> roles (role_id));
diesel::joinable!(memberships -> companies (company_id));
diesel::joinable!(memberships -> roles (role_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(modules -> projects (project_id));
diesel::joinable!(project_role_grants -> projects (project_id));
diesel::joinable!(project_role_grants -> roles (role_id));
diesel::joinable!(project_role_grants -> users (user_id));
diesel::joinable!(projects -> companies (company_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(row_changes -> activity_events (event_seq));
diesel::joinable!(role_permissions -> roles (role_id));
diesel::joinable!(roles -> companies (company_id));
diesel::joinable!(schema_changes -> data_tables (table_id));
diesel::joinable!(schema_changes -> users (actor_id));
diesel::joinable!(table_recalculations -> data_tables (table_id));
diesel::joinable!(registered_documents -> companies (company_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(user_tokens -> users (user_id));
diesel::joinable!(user_totp -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhooks -> companies (company_id));
diesel::joinable!(webhooks -> roles (role_id));

diesel::allow_tables_to_appear_in_same_query!(
    activity_events,
    api_keys,
    audit_log,
    companies,
    cycles,
    data_fields,
    data_imports,
    data_row_uniques,
    data_rows,
    data_tables,
    emission_factors,
    invitations,
    mail_outbox,
    memberships,
    modules,
    notifications,
    persisted_documents,
    project_role_grants,
    projects,
    recovery_codes,
    rate_limit_hits,
    refresh_tokens,
    registered_documents,
    role_permissions,
    roles,
    row_changes,
    schema_changes,
    sessions,
    table_recalculations,
    user_tokens,
    user_totp,
    users,
    webhook_deliveries,
    webhooks,
);
