"""What `flask --app wsgi worker --burst --no-cron` does (app/cli/worker.py), with a choice of RQ worker class.

    python -m bench.fulfil_worker --class simple

Only for bench/fulfilment.py, to show what the work-horse fork of RQ's default `Worker` costs per job:
`SimpleWorker` runs every job in the worker process itself, so the app, its connection pools and
SQLAlchemy's statement cache live on from one job to the next.
"""

import argparse

from rq import Queue, SimpleWorker, Worker

CLASSES = {"fork": Worker, "simple": SimpleWorker}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.fulfil_worker")
    p.add_argument("--class", dest="cls", choices=sorted(CLASSES), default="simple")
    args = p.parse_args()

    from app.queues import QUEUES, connection
    from wsgi import app

    with app.app_context():  # as `flask --app wsgi worker` runs inside @with_appcontext
        conn = connection()
        queues = [Queue(name, connection=conn) for name in QUEUES]
        CLASSES[args.cls](queues, connection=conn).work(with_scheduler=True, burst=True)


if __name__ == "__main__":
    main()
