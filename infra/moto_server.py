"""moto's server for the local stack, with two fixes to its DynamoDB transactions.

1. One DynamoDB request at a time. moto applies a TransactWriteItems by copying its tables,
   applying the items in order and restoring the copy when a condition fails. Two such
   requests at once undo each other's writes (seen here: 200 concurrent assigns on 10 seats
   left 12 seat items beside a counter of 10). DynamoDB itself runs transactions atomically
   and isolated; serializing moto's DynamoDB handler gives the emulator the same guarantee.
   SQS, SES and S3 stay concurrent.
2. A transaction's backup holds what it can change, not the whole table. moto deep-copies the
   whole table once per item of the transaction, to restore it if a condition fails: a 7-item
   transaction on a 2,000-item table took 0.26 s, and the copies, cyclic garbage, grew the
   server by gigabytes until the kernel killed it at 10,000 seats. The backup is now made once
   per table, and it copies the table's item maps (references) and deep-copies only the items
   the transaction names: every other item is shared, as the transaction cannot change it.

Usage: python infra/moto_server.py -H 127.0.0.1 -p PORT   (the same arguments as moto_server)
"""

import copy
import os
from collections import defaultdict
import signal
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.responses import DynamoHandler


def patch():
    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def serialized_call_action(self):
        with lock:
            return call_action(self)

    DynamoHandler.call_action = serialized_call_action

    class CopyTablesOnce:
        """`copy` as moto's DynamoDB models see it: within a transaction, a table's backup is
        made once, and holds copies of the items the transaction names only."""

        backups = None
        # table name -> the keys (attribute maps) the transaction's items name
        named = None

        @classmethod
        def deepcopy(cls, obj, memo=None):
            if cls.backups is not None and isinstance(obj, dynamodb_models.Table):
                if id(obj) not in cls.backups:
                    cls.backups[id(obj)] = backup(obj, cls.named.get(obj.name, []))
                return cls.backups[id(obj)]
            return copy.deepcopy(obj, memo)

        copy = staticmethod(copy.copy)

    def backup(table, keys):
        snapshot = copy.copy(table)
        items = defaultdict(dict)
        if table.range_key_attr is not None:
            for h, partition in table.items.items():
                items[h] = dict(partition)
        else:
            items.update(table.items)
        for key in keys:
            h = DynamoType(key[table.hash_key_attr]) if table.hash_key_attr in key else None
            if h is None or h not in items:
                continue
            if table.range_key_attr is None:
                items[h] = copy.deepcopy(items[h])
            elif table.range_key_attr in key:
                r = DynamoType(key[table.range_key_attr])
                if r in items[h]:
                    items[h][r] = copy.deepcopy(items[h][r])
        snapshot.items = items
        return snapshot

    def named_keys(transact_items):
        named = defaultdict(list)
        for entry in transact_items:
            for op in entry.values():
                if isinstance(op, dict) and "TableName" in op:
                    named[op["TableName"]].append(op.get("Key") or op.get("Item") or {})
        return named

    dynamodb_models.copy = CopyTablesOnce
    transact = dynamodb_models.DynamoDBBackend.transact_write_items

    def transact_copying_once(self, transact_items, *args, **kwargs):
        CopyTablesOnce.backups = {}
        CopyTablesOnce.named = named_keys(transact_items)
        try:
            return transact(self, transact_items, *args, **kwargs)
        finally:
            CopyTablesOnce.backups = None
            CopyTablesOnce.named = None

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
