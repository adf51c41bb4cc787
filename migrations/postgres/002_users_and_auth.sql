-- Authentication and authorisation: sessions, API keys (hashes only), permissions, shared
-- strategies and subscriptions.

-- migrate:up
CREATE TABLE user_sessions (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the session token: a leaked table does not leak live sessions
    token_hash    bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    ip_address    inet,
    user_agent    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    CHECK (expires_at > created_at)
);
CREATE UNIQUE INDEX user_sessions_token_key ON user_sessions (token_hash);
CREATE INDEX user_sessions_user_live_idx ON user_sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX user_sessions_expires_idx ON user_sessions (expires_at);

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text        NOT NULL,
    -- the first characters of the key, shown to users and used to find the row; never the key
    key_prefix    text        NOT NULL CHECK (key_prefix ~ '^[A-Za-z0-9_]{8,16}$'),
    key_hash      text        NOT NULL,
    scopes        text[]      NOT NULL DEFAULT '{read}'
                  CHECK (scopes <@ ARRAY['read', 'trade', 'withdraw', 'admin']::text[]),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    UNIQUE (user_id, name),
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE UNIQUE INDEX api_keys_prefix_key ON api_keys (key_prefix);

CREATE TABLE user_permissions (
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission  text        NOT NULL CHECK (permission ~ '^[a-z_]+:[a-z_*]+$'),  -- resource:action
    granted_by  bigint      REFERENCES users (id) ON DELETE SET NULL,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, permission)
);

CREATE TYPE strategy_access_level AS ENUM ('view', 'execute', 'edit');

CREATE TABLE strategy_access (
    strategy_id  bigint                NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
    user_id      bigint                NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_level strategy_access_level NOT NULL DEFAULT 'view',
    granted_by   bigint                REFERENCES users (id) ON DELETE SET NULL,
    granted_at   timestamptz           NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    PRIMARY KEY (strategy_id, user_id)
);
CREATE INDEX strategy_access_user_idx ON strategy_access (user_id);

CREATE TYPE subscription_plan AS ENUM ('free', 'pro', 'enterprise');
CREATE TYPE subscription_status AS ENUM ('trialing', 'active', 'past_due', 'cancelled', 'expired');

CREATE TABLE subscriptions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             bigint              NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    plan                subscription_plan   NOT NULL,
    status              subscription_status NOT NULL DEFAULT 'trialing',
    external_id         text UNIQUE,        -- the payment provider's id
    price_cents         integer             NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    currency            text                NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    current_period_start timestamptz        NOT NULL DEFAULT now(),
    current_period_end  timestamptz         NOT NULL,
    cancelled_at        timestamptz,
    created_at          timestamptz         NOT NULL DEFAULT now(),
    updated_at          timestamptz         NOT NULL DEFAULT now(),
    CHECK (current_period_end > current_period_start)
);
-- at most one live subscription per user
CREATE UNIQUE INDEX subscriptions_one_live_per_user ON subscriptions (user_id)
    WHERE status IN ('trialing', 'active', 'past_due');
CREATE TRIGGER subscriptions_updated_at BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- what each table is for (shown in docs/schema.md)
COMMENT ON TABLE user_sessions IS 'Login sessions, by SHA-256 of the session token';
COMMENT ON TABLE api_keys IS 'API keys for integrations: a lookup prefix and a hash, never the key';
COMMENT ON TABLE user_permissions IS 'Permissions granted to users, as resource:action';
COMMENT ON TABLE strategy_access IS 'Strategies shared with other users and at which level';
COMMENT ON TABLE subscriptions IS 'Paid plans of users; at most one live subscription each';

-- migrate:down
DROP TABLE subscriptions;
DROP TYPE subscription_status;
DROP TYPE subscription_plan;
DROP TABLE strategy_access;
DROP TYPE strategy_access_level;
DROP TABLE user_permissions;
DROP TABLE api_keys;
DROP TABLE user_sessions;
