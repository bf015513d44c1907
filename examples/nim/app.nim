## A Solo5 unikernel in Nim: formats text, allocates (seqs, strings, refs,
## a table), reads both clocks and sleeps with solo5_yield, then answers
## ARP and ping on `service0` as 10.0.0.2.
##
## Built with Debian's `nim` (`--os:any --mm:arc -d:useMalloc`), its C
## compiled and linked by our toolchain's x86_64-solo5-none-static-cc, with
## the platform shim `shim.c` (libc bits, malloc, solo5_app_main); see
## `build` and docs/toolchain.md. Arguments: `limit N` exits with SUCCESS
## after answering N echo requests; without it, it serves until stopped.

import std/tables

{.compile: "shim.c".}

type
  NetInfo {.importc: "struct solo5_net_info", header: "solo5.h".} = object
    mac_address: array[6, uint8]
    mtu: csize_t

const
  ROk = 0.cint
  RAgain = 1.cint
  HLen = 14

proc solo5_console_write(buf: cstring, size: csize_t) {.importc, header: "solo5.h".}
proc solo5_clock_monotonic(): uint64 {.importc, header: "solo5.h".}
proc solo5_clock_wall(): uint64 {.importc, header: "solo5.h".}
proc solo5_yield(deadline: uint64, readySet: ptr uint64) {.importc, header: "solo5.h".}
proc solo5_net_acquire(name: cstring, handle: ptr uint64,
                       info: ptr NetInfo): cint {.importc, header: "solo5.h".}
proc solo5_net_read(handle: uint64, buf: ptr uint8, size: csize_t,
                    readSize: ptr csize_t): cint {.importc, header: "solo5.h".}
proc solo5_net_write(handle: uint64, buf: ptr uint8,
                     size: csize_t): cint {.importc, header: "solo5.h".}

var
  nimCmdline {.importc: "nim_solo5_cmdline", header: "shim.h".}: cstring
  nimStatus {.importc: "nim_solo5_status", header: "shim.h".}: cint
  heapUsed {.importc: "nim_solo5_heap_used", header: "shim.h".}: csize_t

proc say(s: string) =
  if s.len > 0:
    solo5_console_write(s.cstring, s.len.csize_t)

proc hex(x: uint64, width: int): string =
  const digits = "0123456789abcdef"
  var v = x
  result = newString(width)
  for i in countdown(width - 1, 0):
    result[i] = digits[int(v and 15)]
    v = v shr 4

proc words(s: string): seq[string] =
  var cur = ""
  for c in s:
    if c == ' ':
      if cur.len > 0: result.add cur
      cur = ""
    else:
      cur.add c
  if cur.len > 0: result.add cur

proc parseNat(s: string): int =
  for c in s:
    if c notin {'0'..'9'}: return -1
    result = result * 10 + (ord(c) - ord('0'))

type
  Point = object
    x, y: int
    label: string
  Node = ref object
    value: int
    next: Node

proc checkFormatting(): bool =
  let p = Point(x: 3, y: -4, label: "p")
  let s = "int " & $42 & ", negative " & $(-7) & ", float " & $3.25 &
          ", seq " & $[1, 2, 3] & ", object " & $p & ", hex " & hex(0xbeef, 4)
  say "Formatted: " & s & "\n"
  result = s == "int 42, negative -7, float 3.25, seq [1, 2, 3], object " &
                "(x: 3, y: -4, label: \"p\"), hex beef"

proc checkAllocation(): bool =
  # A linked list, a seq of strings and a table, built and dropped again
  # and again: ARC frees as it goes, so the heap stays bounded.
  let before = heapUsed
  var total = 0
  for round in 1 .. 200:
    var head: Node = nil
    for i in 1 .. 100:
      head = Node(value: i, next: head)
    var n = head
    while n != nil:
      total += n.value
      n = n.next
    var names = newSeq[string]()
    var t = initTable[string, int]()
    for i in 0 ..< 50:
      let k = "key" & $i
      names.add k
      t[k] = i * round
    total += t["key49"] div round + names.len
  let grown = heapUsed - before
  say "Allocated and freed: sum " & $total & ", heap grew by " & $grown & " bytes\n"
  result = total == 200 * (5050 + 49 + 50) and grown < 1_000_000

proc checkClocks(): bool =
  let wall = solo5_clock_wall()
  let t0 = solo5_clock_monotonic()
  let deadline = t0 + 20_000_000
  # A frame on service0 (the host's IPv6 chatter) ends a yield early:
  # yield again until the deadline.
  var wakeups = 0
  while solo5_clock_monotonic() < deadline:
    var ready: uint64
    solo5_yield(deadline, addr ready)
    inc wakeups
  let slept = solo5_clock_monotonic() - t0
  say "Wall clock: " & $(wall div 1_000_000_000) & " s since the epoch; slept " &
      $(slept div 1000) & " us for a 20 ms deadline (" & $wakeups & " yields)\n"
  result = wall > 1_577_836_800'u64 * 1_000_000_000'u64 and slept >= 20_000_000

type Iface = object
  handle: uint64
  info: NetInfo
  ip: array[4, uint8]
  echoes: int

proc be16(f: openArray[uint8], at: int): int = (int(f[at]) shl 8) or int(f[at + 1])

proc put16(f: var seq[uint8], at: int, v: int) =
  f[at] = uint8((v shr 8) and 0xff)
  f[at + 1] = uint8(v and 0xff)

proc checksum(f: seq[uint8], start, len: int): int =
  var sum = 0
  var i = start
  while i + 1 < start + len:
    sum += be16(f, i)
    i += 2
  if i < start + len: sum += int(f[i]) shl 8
  while sum shr 16 != 0: sum = (sum and 0xffff) + (sum shr 16)
  result = (not sum) and 0xffff

proc reply(ifc: var Iface, f: seq[uint8]): seq[uint8] =
  ## The reply to frame `f`, or an empty seq.
  if f.len < HLen: return
  let mac = ifc.info.mac_address
  var toUs = true
  var bcast = true
  for i in 0 .. 5:
    if f[i] != mac[i]: toUs = false
    if f[i] != 0xff: bcast = false
  if not (toUs or bcast): return
  var r = f
  let t = be16(f, 12)
  if t == 0x0806 and f.len >= HLen + 28:
    if be16(f, HLen + 6) != 1: return
    for i in 0 .. 3:
      if f[HLen + 24 + i] != ifc.ip[i]: return
    put16(r, HLen + 6, 2)
    for i in 0 .. 9: r[HLen + 18 + i] = f[HLen + 8 + i]
    for i in 0 .. 5: r[HLen + 8 + i] = mac[i]
    for i in 0 .. 3: r[HLen + 14 + i] = ifc.ip[i]
    r.setLen(HLen + 28)
  elif t == 0x0800 and f.len >= HLen + 28:
    let ihl = int(f[HLen] and 0xf) * 4
    let total = be16(f, HLen + 2)
    if f[HLen + 9] != 1 or ihl < 20 or total > f.len - HLen or total < ihl + 8: return
    for i in 0 .. 3:
      if f[HLen + 16 + i] != ifc.ip[i]: return
    let icmp = HLen + ihl
    if f[icmp] != 8: return
    for i in 0 .. 3:
      r[HLen + 12 + i] = f[HLen + 16 + i]
      r[HLen + 16 + i] = f[HLen + 12 + i]
    r[icmp] = 0
    put16(r, icmp + 2, 0)
    put16(r, icmp + 2, checksum(r, icmp, total - ihl))
    put16(r, HLen + 10, 0)
    put16(r, HLen + 10, checksum(r, HLen, ihl))
    r.setLen(HLen + total)
    inc ifc.echoes
  else:
    return
  for i in 0 .. 5:
    r[i] = f[6 + i]
    r[6 + i] = mac[i]
  result = r

proc serve(limit: int): bool =
  var ifc = Iface(ip: [10'u8, 0, 0, 2])
  if solo5_net_acquire("service0", addr ifc.handle, addr ifc.info) != ROk:
    say "Could not acquire 'service0'\n"
    return false
  var m = ""
  for i, b in ifc.info.mac_address:
    if i > 0: m.add ':'
    m.add hex(b, 2)
  say "Serving ping on 10.0.0.2, with MAC: " & m & ", MTU " & $ifc.info.mtu & "\n"
  var buf = newSeq[uint8](int(ifc.info.mtu) + HLen)
  while limit < 0 or ifc.echoes < limit:
    var ready: uint64
    solo5_yield(solo5_clock_monotonic() + 1_000_000_000'u64, addr ready)
    if (ready and (1'u64 shl ifc.handle)) == 0: continue
    while true:
      var n: csize_t
      let r = solo5_net_read(ifc.handle, addr buf[0], buf.len.csize_t, addr n)
      if r == RAgain: break
      if r != ROk:
        say "net read failed\n"
        return false
      # A fresh seq per frame: allocation on the hot path too.
      let frame = buf[0 ..< int(n)]
      var answer = reply(ifc, frame)
      if answer.len > 0 and
          solo5_net_write(ifc.handle, addr answer[0], answer.len.csize_t) != ROk:
        say "net write failed\n"
        return false
  say "Answered " & $ifc.echoes & " echo requests\n"
  true

proc main(): cint =
  say "\n**** Solo5 Nim unikernel (Nim " & NimVersion & ") ****\n\n"
  let args = words($nimCmdline)
  var limit = -1
  if args.len == 2 and args[0] == "limit":
    limit = parseNat(args[1])
  if not checkFormatting():
    say "FAILURE: formatting\n"
    return 1
  if not checkAllocation():
    say "FAILURE: allocation\n"
    return 1
  if not checkClocks():
    say "FAILURE: clocks\n"
    return 1
  if not serve(limit):
    say "FAILURE: network\n"
    return 1
  say "SUCCESS\n"
  0

nimStatus = main()
