;; checksum.wat — the page checksum ksmd keys its trees with and uses to skip volatile pages.
;; Compiled into src/ksm/checksum-wasm.ts by `npm run build:wasm`; test/ksm/checksum.test.ts checks
;; that the two agree.
;;
;; One instance per memory bank: the bank's shared WebAssembly.Memory is imported, so a page is
;; hashed where it lies, with no copy. $checksum takes the byte offset of a 4 KiB page in the bank.
;;
;; First one 32-bit load from each of the page's 64 cache lines: the loads do not depend on each
;; other, so the CPU has all 64 line fetches in flight at once instead of waiting for the hardware
;; prefetcher to ramp up on each stream (a page not in cache then hashes about 1.6x faster here).
;; Their XOR goes to a global nobody reads (so the loads are not dropped as dead code) and takes no
;; part in the checksum.
;;
;; Then eight accumulators of four 32-bit lanes; each quarter of the page feeds two of them, so four
;; cache-line streams are in flight at once (a page that is not in cache hashes almost as fast as
;; one that is). A step folds two 16-byte vectors into an accumulator: the first through a multiply
;; by an odd constant, the second (16-bit halves swapped, so the top bits of the two cannot cancel)
;; after it. Every step is a bijection of the accumulator and of each input word, and the fold below
;; gives every lane an odd weight, so changing any one word always changes the checksum.
(module
  (import "env" "memory" (memory 1 65536 shared))
  (global $touched (mut i32) (i32.const 0))
  (func (export "checksum") (param $at i32) (result i32)
    (local $end i32) (local $h i32) (local $v v128) (local $lines i32)
    (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128)
    (local $c0 v128) (local $c1 v128) (local $d0 v128) (local $d1 v128)
    (local $p1 v128) (local $p2 v128) (local $p3 v128) (local $p4 v128)
    (local.set $p1 (v128.const i32x4 0x9e3779b1 0x9e3779b1 0x9e3779b1 0x9e3779b1))
    (local.set $p2 (v128.const i32x4 0x85ebca77 0x85ebca77 0x85ebca77 0x85ebca77))
    (local.set $p3 (v128.const i32x4 0xc2b2ae3d 0xc2b2ae3d 0xc2b2ae3d 0xc2b2ae3d))
    (local.set $p4 (v128.const i32x4 0x27d4eb2f 0x27d4eb2f 0x27d4eb2f 0x27d4eb2f))
    (local.set $a0 (v128.const i32x4 1 2 3 4))
    (local.set $a1 (v128.const i32x4 5 6 7 8))
    (local.set $b0 (v128.const i32x4 9 10 11 12))
    (local.set $b1 (v128.const i32x4 13 14 15 16))
    (local.set $c0 (v128.const i32x4 17 18 19 20))
    (local.set $c1 (v128.const i32x4 21 22 23 24))
    (local.set $d0 (v128.const i32x4 25 26 27 28))
    (local.set $d1 (v128.const i32x4 29 30 31 32))
    ;; touch every cache line
    (local.set $end (i32.add (local.get $at) (i32.const 4096)))
    (local.set $h (local.get $at))
    (loop $touch
      (local.set $lines (i32.xor (local.get $lines) (i32.load (local.get $h))))
      (local.set $h (i32.add (local.get $h) (i32.const 64)))
      (br_if $touch (i32.lt_u (local.get $h) (local.get $end))))
    (global.set $touched (local.get $lines))
    ;; 16 steps of 64 bytes in each 1 KiB quarter
    (local.set $end (i32.add (local.get $at) (i32.const 1024)))
    (loop $step
      (local.set $a0 (v128.xor
        (i32x4.mul (v128.xor (local.get $a0) (v128.load offset=0 (local.get $at))) (local.get $p2))
        (i8x16.shuffle 2 3 0 1 6 7 4 5 10 11 8 9 14 15 12 13
          (v128.load offset=16 (local.get $at)) (v128.load offset=16 (local.get $at)))))
      (local.set $a1 (v128.xor
        (i32x4.mul (v128.xor (local.get $a1) (v128.load offset=32 (local.get $at))) (local.get $p3))
        (i8x16.shuffle 2 3 0 1 6 7 4 5 10 11 8 9 14 15 12 13
          (v128.load offset=48 (local.get $at)) (v128.load offset=48 (local.get $at)))))
      (local.set $b0 (v128.xor
        (i32x4.mul (v128.xor (local.get $b0) (v128.load offset=1024 (local.get $at))) (local.get $p4))
        (i8x16.shuffle 2 3 0 1 6 7 4 5 10 11 8 9 14 15 12 13
          (v128.load offset=1040 (local.get $at)) (v128.load offset=1040 (local.get $at)))))
      (local.set $b1 (v128.xor
        (i32x4.mul (v128.xor (local.get $b1) (v128.load offset=1056 (local.get $at))) (local.get $p1))
        (i8x16.shuffle 2 3 0 1 6 7 4 5 10 11 8 9 14 15 12 13
          (v128.load offset=1072 (local.get $at)) (v128.load offset=1072 (local.get $at)))))
      (local.set $c0 (v128.xor
        (i32x4.mul (v128.xor (local.get $c0) (v128.load offset=2048 (local.get $at))) (local.get $p2))
        (i8x16.shuffle 2 3 0 1 6 7 4 5 10 11 8 9 14 15 12 13
          (v128.load offset=2064 (local.get $at)) (v128.load offset=2064 (local.get $at)))))
      (local.set $c1 (v128.xor
        (i32x4.mul (v128.xor (local.get $c1) (v128.load offset=2080 (local.get $at))) (local.get $p3))
        (i8x16.shuffle 2 3 0 1 6 7 4 5 10 11 8 9 14 15 12 13
          (v128.load offset=2096 (local.get $at)) (v128.load offset=2096 (local.get $at)))))
      (local.set $d0 (v128.xor
        (i32x4.mul (v128.xor (local.get $d0) (v128.load offset=3072 (local.get $at))) (local.get $p4))
        (i8x16.shuffle 2 3 0 1 6 7 4 5 10 11 8 9 14 15 12 13
          (v128.load offset=3088 (local.get $at)) (v128.load offset=3088 (local.get $at)))))
      (local.set $d1 (v128.xor
        (i32x4.mul (v128.xor (local.get $d1) (v128.load offset=3104 (local.get $at))) (local.get $p1))
        (i8x16.shuffle 2 3 0 1 6 7 4 5 10 11 8 9 14 15 12 13
          (v128.load offset=3120 (local.get $at)) (v128.load offset=3120 (local.get $at)))))
      (local.set $at (i32.add (local.get $at) (i32.const 64)))
      (br_if $step (i32.lt_u (local.get $at) (local.get $end))))
    ;; fold the accumulators with odd weights, then the lanes with odd weights
    (local.set $v (i32x4.add
      (i32x4.add
        (i32x4.add (local.get $a0) (i32x4.mul (local.get $a1) (v128.const i32x4 3 3 3 3)))
        (i32x4.add (i32x4.mul (local.get $b0) (v128.const i32x4 5 5 5 5))
                   (i32x4.mul (local.get $b1) (v128.const i32x4 7 7 7 7))))
      (i32x4.add
        (i32x4.add (i32x4.mul (local.get $c0) (v128.const i32x4 9 9 9 9))
                   (i32x4.mul (local.get $c1) (v128.const i32x4 11 11 11 11)))
        (i32x4.add (i32x4.mul (local.get $d0) (v128.const i32x4 13 13 13 13))
                   (i32x4.mul (local.get $d1) (v128.const i32x4 15 15 15 15))))))
    (local.set $v (i32x4.mul (local.get $v) (v128.const i32x4 1 3 5 7)))
    (local.set $h (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))
    ;; murmur3's finalizer: a bijection that spreads every bit over the result
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 15))) (i32.const 0x85ebca77)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))) (i32.const 0xc2b2ae3d)))
    (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16)))))
