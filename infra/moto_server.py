"""moto's server for the local stack, serving one DynamoDB request at a time.

moto applies a TransactWriteItems by copying its tables, applying the items in order and
restoring the copy when a condition fails. Two such requests at once undo each other's
writes (seen here: 200 concurrent assigns on 10 seats left 12 seat items beside a counter of
10). DynamoDB itself runs transactions atomically and isolated; serializing moto's DynamoDB
handler gives the emulator the same guarantee. SQS, SES and S3 stay concurrent.

Usage: python infra/moto_server.py -H 127.0.0.1 -p PORT   (the same arguments as moto_server)
"""

import os
import signal
import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_dynamodb = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _dynamodb:
        return _call_action(self)


DynamoHandler.call_action = _serialized_call_action

if __name__ == "__main__":
    # Stop at once on SIGTERM (the local stack's owner sends it); nothing here needs flushing.
    # moto's main() installs its own handler, which waits for open long-polls: keep ours.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    _install = signal.signal
    signal.signal = lambda sig, handler: None if sig == signal.SIGTERM else _install(sig, handler)
    sys.exit(main(sys.argv[1:]))
