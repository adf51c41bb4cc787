-- Notifications, alert rules and the outgoing e-mail queue.

-- migrate:up
CREATE TYPE notification_kind AS ENUM ('alert', 'trade', 'strategy', 'system', 'billing');
CREATE TYPE severity AS ENUM ('info', 'warning', 'critical');

CREATE TABLE notifications (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint            NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        notification_kind NOT NULL,
    severity    severity          NOT NULL DEFAULT 'info',
    title       text              NOT NULL,
    body        text,
    payload     jsonb             NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz       NOT NULL DEFAULT now(),
    read_at     timestamptz,
    CHECK (read_at IS NULL OR read_at >= created_at)
);
-- the badge and inbox query: a user's unread notifications, newest first
CREATE INDEX notifications_unread_idx ON notifications (user_id, created_at DESC) WHERE read_at IS NULL;

CREATE TABLE alert_rules (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id            bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    strategy_id        bigint      REFERENCES strategies (id) ON DELETE CASCADE,
    name               text        NOT NULL,
    symbol             text,
    -- e.g. {"metric": "price", "op": ">", "value": 65000} or {"metric": "drawdown", "op": ">=", "value": 0.1}
    condition          jsonb       NOT NULL CHECK (condition ? 'metric' AND condition ? 'op'),
    severity           severity    NOT NULL DEFAULT 'warning',
    channels           text[]      NOT NULL DEFAULT '{in_app}'
                       CHECK (cardinality(channels) > 0
                              AND channels <@ ARRAY['in_app', 'email', 'webhook', 'telegram']::text[]),
    cooldown           interval    NOT NULL DEFAULT '5 minutes' CHECK (cooldown >= interval '0'),
    is_enabled         boolean     NOT NULL DEFAULT true,
    last_triggered_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);
CREATE INDEX alert_rules_enabled_idx ON alert_rules (symbol) WHERE is_enabled;
CREATE TRIGGER alert_rules_updated_at BEFORE UPDATE ON alert_rules FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TYPE email_status AS ENUM ('pending', 'sending', 'sent', 'failed');

CREATE TABLE email_queue (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint       REFERENCES users (id) ON DELETE SET NULL,
    to_address    text         NOT NULL CHECK (to_address ~ '^[^@\s]+@[^@\s]+$'),
    subject       text         NOT NULL,
    template      text         NOT NULL,
    payload       jsonb        NOT NULL DEFAULT '{}'::jsonb,
    status        email_status NOT NULL DEFAULT 'pending',
    attempts      smallint     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts  smallint     NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    scheduled_at  timestamptz  NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    last_error    text,
    created_at    timestamptz  NOT NULL DEFAULT now(),
    CHECK (attempts <= max_attempts),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
-- the sender's poll: due rows not sent yet (the index holds only those, so it stays small)
CREATE INDEX email_queue_unsent_idx ON email_queue (scheduled_at) WHERE status IN ('pending', 'failed');

-- what each table is for (shown in docs/schema.md)
COMMENT ON TABLE notifications IS 'In-app notifications; unread ones have no read_at';
COMMENT ON TABLE alert_rules IS 'User-defined alert conditions on prices and strategy metrics';
COMMENT ON TABLE email_queue IS 'Outgoing e-mail, polled by the sender until sent';

-- migrate:down
DROP TABLE email_queue;
DROP TYPE email_status;
DROP TABLE alert_rules;
DROP TABLE notifications;
DROP TYPE severity;
DROP TYPE notification_kind;
