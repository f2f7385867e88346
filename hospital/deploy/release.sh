#!/bin/sh
# The release step of a deploy (fly.toml [deploy] release_command): runs once, in a temporary
# machine with the new image and the app's secrets, before any process is replaced. Every
# command is idempotent; a failure aborts the deploy and the old release keeps running.
set -eu
cd "$(dirname "$0")/../.."
python manage.py migrate --noinput
python manage.py setup_roles
python manage.py setup_schedules
