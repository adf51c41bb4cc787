-- Initial schema: users, the audit trail, trading accounts, strategies and their runs.
-- Identity keys, timestamptz everywhere, enums for closed value sets, JSONB for configuration,
-- and one trigger function keeping updated_at current.

-- migrate:up
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TYPE user_role AS ENUM ('admin', 'trader', 'analyst', 'viewer');

CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          text        NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    username       text        NOT NULL CHECK (username ~ '^[a-z0-9_.-]{3,32}$'),
    password_hash  text        NOT NULL,
    full_name      text,
    role           user_role   NOT NULL DEFAULT 'trader',
    timezone       text        NOT NULL DEFAULT 'UTC',
    is_active      boolean     NOT NULL DEFAULT true,
    email_verified_at timestamptz,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- e-mail addresses are unique regardless of case
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TYPE audit_outcome AS ENUM ('success', 'failure', 'warning');

-- Append-only journal of actions (users' and dbtools' own migration runs).
CREATE TABLE audit_logs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz   NOT NULL DEFAULT now(),
    user_id      bigint        REFERENCES users (id) ON DELETE SET NULL,
    actor        text          NOT NULL,
    action       text          NOT NULL,
    entity_type  text,
    entity_id    text,
    outcome      audit_outcome NOT NULL DEFAULT 'success',
    details      jsonb         NOT NULL DEFAULT '{}'::jsonb,
    ip_address   inet,
    user_agent   text
);
-- BRIN: the table grows in time order, so a tiny index serves time-range scans
CREATE INDEX audit_logs_occurred_at_brin ON audit_logs USING brin (occurred_at);
CREATE INDEX audit_logs_user_time_idx ON audit_logs (user_id, occurred_at DESC) WHERE user_id IS NOT NULL;
CREATE INDEX audit_logs_entity_idx ON audit_logs (entity_type, entity_id);

CREATE TYPE account_type AS ENUM ('spot', 'margin', 'futures');
CREATE TYPE account_mode AS ENUM ('paper', 'live');

CREATE TABLE trading_accounts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           text          NOT NULL,
    exchange       text          NOT NULL,
    account_type   account_type  NOT NULL DEFAULT 'spot',
    mode           account_mode  NOT NULL DEFAULT 'paper',
    base_currency  text          NOT NULL DEFAULT 'USDT' CHECK (base_currency ~ '^[A-Z0-9]{2,10}$'),
    balance        numeric(28, 10) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    leverage       numeric(6, 2) NOT NULL DEFAULT 1 CHECK (leverage >= 1 AND leverage <= 125),
    is_active      boolean       NOT NULL DEFAULT true,
    created_at     timestamptz   NOT NULL DEFAULT now(),
    updated_at     timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (user_id, exchange, name)
);
CREATE TRIGGER trading_accounts_updated_at BEFORE UPDATE ON trading_accounts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TYPE strategy_status AS ENUM ('draft', 'active', 'paused', 'archived');

CREATE TABLE strategies (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id     bigint          NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    name         text            NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description  text,
    kind         text            NOT NULL,  -- e.g. trend_following, mean_reversion, grid
    status       strategy_status NOT NULL DEFAULT 'draft',
    symbols      text[]          NOT NULL DEFAULT '{}',
    timeframe    text            NOT NULL DEFAULT '1h'
                 CHECK (timeframe IN ('1m', '5m', '15m', '30m', '1h', '4h', '1d', '1w')),
    config       jsonb           NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
    version      integer         NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at   timestamptz     NOT NULL DEFAULT now(),
    updated_at   timestamptz     NOT NULL DEFAULT now(),
    UNIQUE (owner_id, name)
);
CREATE INDEX strategies_status_idx ON strategies (status) WHERE status = 'active';
CREATE INDEX strategies_symbols_idx ON strategies USING gin (symbols);
CREATE TRIGGER strategies_updated_at BEFORE UPDATE ON strategies FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TYPE run_kind AS ENUM ('backtest', 'paper', 'live', 'optimization', 'walk_forward');
CREATE TYPE run_status AS ENUM ('queued', 'running', 'succeeded', 'failed', 'cancelled');

CREATE TABLE strategy_runs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    strategy_id      bigint      NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
    account_id       bigint      REFERENCES trading_accounts (id) ON DELETE SET NULL,
    started_by       bigint      REFERENCES users (id) ON DELETE SET NULL,
    kind             run_kind    NOT NULL,
    status           run_status  NOT NULL DEFAULT 'queued',
    strategy_version integer     NOT NULL,
    parameters       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    initial_capital  numeric(28, 10) CHECK (initial_capital > 0),
    period_start     timestamptz,
    period_end       timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    summary          jsonb,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (period_end IS NULL OR period_start IS NULL OR period_end > period_start),
    CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at),
    -- live trading needs an account to trade on
    CHECK (kind <> 'live' OR account_id IS NOT NULL)
);
CREATE INDEX strategy_runs_strategy_idx ON strategy_runs (strategy_id, created_at DESC);
CREATE INDEX strategy_runs_active_idx ON strategy_runs (status) WHERE status IN ('queued', 'running');

-- what each table is for (shown in docs/schema.md)
COMMENT ON TABLE users IS 'People who log in: identity, role, preferences';
COMMENT ON TABLE audit_logs IS 'Append-only journal of user actions and dbtools migration runs';
COMMENT ON TABLE trading_accounts IS 'Exchange accounts (paper or live) that strategies trade on';
COMMENT ON TABLE strategies IS 'Strategy definitions: owner, kind, symbols, timeframe and JSON configuration';
COMMENT ON TABLE strategy_runs IS 'Each backtest, paper, live, optimisation or walk-forward run of a strategy';

-- migrate:down
DROP TABLE strategy_runs;
DROP TYPE run_status;
DROP TYPE run_kind;
DROP TABLE strategies;
DROP TYPE strategy_status;
DROP TABLE trading_accounts;
DROP TYPE account_mode;
DROP TYPE account_type;
DROP TABLE audit_logs;
DROP TYPE audit_outcome;
DROP TABLE users;
DROP TYPE user_role;
DROP FUNCTION set_updated_at();
