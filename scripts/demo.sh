#!/usr/bin/env bash
# The demo: real Dovecot + Postfix on 127.0.0.1, a realistic working Friday of mail, and
# boundary-mail's check windows at Friday 10:00, Friday 15:00 and Monday 10:00 (via --now).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --for demo
scripts/mailserver.sh up >/dev/null
eval "$(scripts/mailserver.sh env)"

demo=run/demo
rm -rf "$demo" && mkdir -p "$demo"
sed -e "s|@CA_FILE@|$BM_CA_FILE|g" -e "s|@IMAPS_PORT@|$BM_IMAPS_PORT|g" \
    -e "s|@SMTPS_PORT@|$BM_SMTPS_PORT|g" -e "s|@STATE_DIR@|$PWD/$demo/state|g" \
    config/demo.toml.in > "$demo/boundary-mail.toml"
export BOUNDARY_MAIL_CONFIG="$PWD/$demo/boundary-mail.toml"
# Passwords come from the environment, never from the config file.
export BM_PW_ANN BM_PW_BOB BM_PW_LEAD BM_PW_ASSISTANT
bm() { .venv/bin/boundary-mail "$@"; }

# Start from empty mailboxes so the demo shows the same day every time.
.venv/bin/python scripts/mailserver_reset.py ann bob lead catchall

say() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
say "check-config"
bm check-config

say "Installing on Thursday evening: the first poll records the baseline, answers nothing"
bm poll --now 2026-11-19T18:00

say "Friday morning mail arrives"
.venv/bin/python scripts/demo_mail.py --until 10:00
say "Friday 10:00 check window (dry run first: every decision, every reply text)"
bm poll --now 2026-11-20T10:00 --dry-run > "$demo/dry-run.txt"
head -n 80 "$demo/dry-run.txt"
echo "  … (the whole dry run: $demo/dry-run.txt)"
say "Friday 10:00 check window"
bm poll --now 2026-11-20T10:00

say "Friday late morning and afternoon"
.venv/bin/python scripts/demo_mail.py --from 10:00 --until 15:00
say "Friday 15:00 check window"
bm poll --now 2026-11-20T15:00

say "Friday evening and Saturday"
.venv/bin/python scripts/demo_mail.py --from 15:00 --until 72:00
say "Monday 10:00 check window"
bm poll --now 2026-11-23T10:00

say "Monday: Ann answers Maria from her own mail client"
.venv/bin/python scripts/demo_mail.py --from 72:00
say "Monday 15:00 check window: Ann's reply acknowledges; what is due gets a reminder"
bm poll --now 2026-11-23T15:00
say "Tuesday 15:00 check window: still unanswered 8 business hours later → the lead"
bm poll --now 2026-11-24T15:00

say "status (Tuesday evening)"
bm status --now 2026-11-24T17:00

say "The daily digests for Tuesday 17:30 (their text; --send mails them, --out writes HTML)"
bm digest --now 2026-11-24T17:30 > "$demo/digest.txt"
head -n 70 "$demo/digest.txt"
echo "  … (all digests: $demo/digest.txt)"

say "What Bob received from boundary-mail: reminders"
.venv/bin/python scripts/show_mailbox.py bob reminder
say "What the lead received: escalations"
.venv/bin/python scripts/show_mailbox.py lead escalation

say "What the clients received (delivered by Postfix to the catch-all mailbox)"
.venv/bin/python scripts/show_mailbox.py catchall
