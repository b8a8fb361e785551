"""moto's server for the local stack, with two fixes to its DynamoDB transactions.

1. One DynamoDB request at a time. moto applies a TransactWriteItems by copying its tables,
   applying the items in order and restoring the copy when a condition fails. Two such
   requests at once undo each other's writes (seen here: 200 concurrent assigns on 10 seats
   left 12 seat items beside a counter of 10). DynamoDB itself runs transactions atomically
   and isolated; serializing moto's DynamoDB handler gives the emulator the same guarantee.
   SQS, SES and S3 stay concurrent.
2. One backup copy per table per transaction. moto deep-copies the whole table once per item
   of the transaction (all before applying any, so the copies are identical): a 7-item
   transaction on a 2,000-item table took 0.26 s and the copies, cyclic garbage, grew the
   server by gigabytes until the kernel killed it at 10,000 seats. The copy is now made once.

Usage: python infra/moto_server.py -H 127.0.0.1 -p PORT   (the same arguments as moto_server)
"""

import copy
import os
import signal
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.responses import DynamoHandler


def patch():
    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def serialized_call_action(self):
        with lock:
            return call_action(self)

    DynamoHandler.call_action = serialized_call_action

    class CopyTablesOnce:
        """`copy` as moto's DynamoDB models see it: within a transaction, a table is copied once."""

        backups = None

        @classmethod
        def deepcopy(cls, obj, memo=None):
            if cls.backups is not None and isinstance(obj, dynamodb_models.Table):
                if id(obj) not in cls.backups:
                    cls.backups[id(obj)] = copy.deepcopy(obj)
                return cls.backups[id(obj)]
            return copy.deepcopy(obj, memo)

        copy = staticmethod(copy.copy)

    dynamodb_models.copy = CopyTablesOnce
    transact = dynamodb_models.DynamoDBBackend.transact_write_items

    def transact_copying_once(self, *args, **kwargs):
        CopyTablesOnce.backups = {}
        try:
            return transact(self, *args, **kwargs)
        finally:
            CopyTablesOnce.backups = None

    dynamodb_models.DynamoDBBackend.transact_write_items = transact_copying_once


if __name__ == "__main__":
    from moto.server import main

    patch()
    # Stop at once on SIGTERM (the local stack's owner sends it); nothing here needs flushing.
    # moto's main() installs its own handler, which waits for open long-polls: keep ours.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    _install = signal.signal
    signal.signal = lambda sig, handler: None if sig == signal.SIGTERM else _install(sig, handler)
    sys.exit(main(sys.argv[1:]))
