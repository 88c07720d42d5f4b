#!/usr/bin/python3
"""libtorrent (python3-libtorrent 2.0) as a many-torrent node, for bench/node.ts. Loopback only.

  lt_node.py first  PORT SAVE_DIR RESUME_DIR TORRENT...  add each .torrent over the files in SAVE_DIR (a full check),
                                                         wait until all are seeding, write RESUME_DIR/<i>.resume, exit
  lt_node.py resume PORT SAVE_DIR RESUME_DIR TORRENT...  add each from RESUME_DIR/<i>.resume (lt.read_resume_data),
                                                         poll every 20 ms until all are seeding, write the resume
                                                         data again (after the timed part), exit
  lt_node.py idle   PORT SAVE_DIR RESUME_DIR TORRENT...  add each .torrent, wait until all are seeding, print READY,
                                                         then wait for alerts until killed (or --max-seconds)

Printed lines (stdout, flushed): "VERSION v", "SEEDING ms=<since the script's first line> checking_ms=<time any
torrent spent in checking_files> states=<every state seen>", "SAVED n", "READY", "ERROR ...".
Settings as ../shared/anchors/lt_common.py: DHT, LSD, UPnP, NAT-PMP, uTP off; no default plugins (no PEX); torrents
not auto-managed, DHT/LSD/PEX disabled per torrent; listens on 127.0.0.1 only. Every wait is bounded (--max-seconds).
"""
import os
import sys
import time

T0 = time.monotonic()
import libtorrent as lt  # noqa: E402 (the import is part of the process start we time)

POLL_S = 0.02


def session(port):
    settings = {
        'listen_interfaces': '127.0.0.1:%d' % port,
        'outgoing_interfaces': '127.0.0.1',
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'dht_bootstrap_nodes': '',
        'enable_incoming_utp': False, 'enable_outgoing_utp': False,
        'allow_multiple_connections_per_ip': True,
        'alert_mask': lt.alert.category_t.status_notification | lt.alert.category_t.storage_notification | lt.alert.category_t.error_notification,
    }
    return lt.session(settings, 0)


def loopback_flags(flags):
    flags &= ~lt.torrent_flags.auto_managed
    flags &= ~lt.torrent_flags.paused
    return flags | lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex


def add_fresh(ses, torrent, save):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    atp.flags = loopback_flags(atp.flags)
    return ses.add_torrent(atp)


def add_resumed(ses, torrent, save, resume_file):
    with open(resume_file, 'rb') as f:
        atp = lt.read_resume_data(f.read())
    if atp.ti is None:
        atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    atp.flags = loopback_flags(atp.flags)
    return ses.add_torrent(atp)


def wait_seeding(ses, handles, deadline):
    """Poll every 20 ms until every handle is seeding; returns (ok, checking seconds, states seen)."""
    seen = set()
    checking_since = None
    checking = 0.0
    while time.monotonic() < deadline:
        for al in ses.pop_alerts():
            if isinstance(al, (lt.torrent_error_alert, lt.file_error_alert)):
                print('ERROR', al.message(), flush=True)
                return False, checking, seen
        states = [h.status().state for h in handles]
        seen.update(str(s) for s in states)
        now = time.monotonic()
        if any(s == lt.torrent_status.states.checking_files for s in states):
            if checking_since is None:
                checking_since = now
        elif checking_since is not None:
            checking += now - checking_since
            checking_since = None
        if all(s == lt.torrent_status.states.seeding for s in states):
            return True, checking, seen
        time.sleep(POLL_S)
    return False, checking, seen


def save_resume(ses, handles, resume_dir, deadline):
    index = {str(h.info_hash()): i for i, h in enumerate(handles)}
    for h in handles:
        h.save_resume_data(lt.torrent_handle.save_info_dict | lt.torrent_handle.flush_disk_cache)
    pending = set(index)
    while pending and time.monotonic() < deadline:
        ses.wait_for_alert(200)
        for al in ses.pop_alerts():
            if isinstance(al, lt.save_resume_data_alert):
                key = str(al.handle.info_hash())
                with open(os.path.join(resume_dir, '%d.resume' % index[key]), 'wb') as f:
                    f.write(lt.write_resume_data_buf(al.params))
                pending.discard(key)
            elif isinstance(al, lt.save_resume_data_failed_alert):
                print('ERROR save_resume_data', al.message(), flush=True)
                return False
    return not pending


def main():
    args = sys.argv[1:]
    max_seconds = 900.0
    if '--max-seconds' in args:
        i = args.index('--max-seconds')
        max_seconds = float(args[i + 1])
        del args[i:i + 2]
    mode, port, save, resume_dir, torrents = args[0], int(args[1]), args[2], args[3], args[4:]
    deadline = T0 + max_seconds
    print('VERSION', lt.__version__, flush=True)
    ses = session(port)
    if mode == 'resume':
        handles = [add_resumed(ses, t, save, os.path.join(resume_dir, '%d.resume' % i)) for i, t in enumerate(torrents)]
    else:
        handles = [add_fresh(ses, t, save) for t in torrents]
    ok, checking, seen = wait_seeding(ses, handles, deadline)
    print('SEEDING ms=%.1f checking_ms=%.1f states=%s ok=%s' % ((time.monotonic() - T0) * 1000, checking * 1000, ','.join(sorted(seen)), ok), flush=True)
    if not ok:
        os._exit(2)
    if mode == 'idle':
        print('READY', flush=True)
        while time.monotonic() < deadline:
            ses.wait_for_alert(1000)
            ses.pop_alerts()
        os._exit(0)
    if not save_resume(ses, handles, resume_dir, deadline):
        os._exit(3)
    print('SAVED', len(handles), flush=True)
    os._exit(0)


main()
