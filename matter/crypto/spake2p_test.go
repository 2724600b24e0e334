package crypto

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"math/big"
	"testing"

	"filippo.io/nistec"
)

// rfc9383 is the P256-SHA256-HKDF-SHA256-HMAC-SHA256 test vector of
// RFC 9383 Appendix C (unchanged from draft-bar-cfrg-spake2plus-08
// Appendix C). It uses the RFC 9383 key schedule.
var rfc9383 = struct {
	context, idProver, idVerifier                            string
	w0, w1, l, x, shareP, y, shareV, z, v, tt                string
	kMain, kConfirmP, kConfirmV, confirmP, confirmV, kShared string
}{
	context:    "SPAKE2+-P256-SHA256-HKDF-SHA256-HMAC-SHA256 Test Vectors",
	idProver:   "client",
	idVerifier: "server",
	w0:         "bb8e1bbcf3c48f62c08db243652ae55d3e5586053fca77102994f23ad95491b3",
	w1:         "7e945f34d78785b8a3ef44d0df5a1a97d6b3b460409a345ca7830387a74b1dba",
	l: "04eb7c9db3d9a9eb1f8adab81b5794c1f13ae3e225efbe91ea487425854c7fc00f" +
		"00bfedcbd09b2400142d40a14f2064ef31dfaa903b91d1faea7093d835966efd",
	x: "d1232c8e8693d02368976c174e2088851b8365d0d79a9eee709c6a05a2fad539",
	shareP: "04ef3bd051bf78a2234ec0df197f7828060fe9856503579bb1733009042c15c0c1" +
		"de127727f418b5966afadfdd95a6e4591d171056b333dab97a79c7193e341727",
	y: "717a72348a182085109c8d3917d6c43d59b224dc6a7fc4f0483232fa6516d8b3",
	shareV: "04c0f65da0d11927bdf5d560c69e1d7d939a05b0e88291887d679fcadea75810fb" +
		"5cc1ca7494db39e82ff2f50665255d76173e09986ab46742c798a9a68437b048",
	z: "04bbfce7dd7f277819c8da21544afb7964705569bdf12fb92aa388059408d50091" +
		"a0c5f1d3127f56813b5337f9e4e67e2ca633117a4fbd559946ab474356c41839",
	v: "0458bf27c6bca011c9ce1930e8984a797a3419797b936629a5a937cf2f11c8b951" +
		"4b82b993da8a46e664f23db7c01edc87faa530db01c2ee405230b18997f16b68",
	tt: `38000000000000005350414b45322b2d503235362d5348413235362d484b4
4462d5348413235362d484d41432d534841323536205465737420566563746f72730
600000000000000636c69656e7406000000000000007365727665724100000000000
00004886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12
f5ff355163e43ce224e0b0e65ff02ac8e5c7be09419c785e0ca547d55a12e2d20410
000000000000004d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f9
8baa1292b4907d60aa6bfade45008a636337f5168c64d9bd36034808cd564490b1e6
56edbe7410000000000000004ef3bd051bf78a2234ec0df197f7828060fe98565035
79bb1733009042c15c0c1de127727f418b5966afadfdd95a6e4591d171056b333dab
97a79c7193e341727410000000000000004c0f65da0d11927bdf5d560c69e1d7d939
a05b0e88291887d679fcadea75810fb5cc1ca7494db39e82ff2f50665255d76173e0
9986ab46742c798a9a68437b048410000000000000004bbfce7dd7f277819c8da215
44afb7964705569bdf12fb92aa388059408d50091a0c5f1d3127f56813b5337f9e4e
67e2ca633117a4fbd559946ab474356c4183941000000000000000458bf27c6bca01
1c9ce1930e8984a797a3419797b936629a5a937cf2f11c8b9514b82b993da8a46e66
4f23db7c01edc87faa530db01c2ee405230b18997f16b682000000000000000bb8e1
bbcf3c48f62c08db243652ae55d3e5586053fca77102994f23ad95491b3`,
	kMain:     "4c59e1ccf2cfb961aa31bd9434478a1089b56cd11542f53d3576fb6c2a438a29",
	kConfirmP: "871ae3f7b78445e34438fb284504240239031c39d80ac23eb5ab9be5ad6db58a",
	kConfirmV: "ccd53c7c1fa37b64a462b40db8be101cedcf838950162902054e644b400f1680",
	confirmP:  "926cc713504b9b4d76c9162ded04b5493e89109f6d89462cd33adc46fda27527",
	confirmV:  "9747bcc4f8fe9f63defee53ac9b07876d907d55047e6ff2def2e7529089d3e68",
	kShared:   "0c5f8ccd1413423a54f6c1fb26ff01534a87f893779c6e68666d772bfd91f3e7",
}

func TestSPAKE2PConstants(t *testing.T) {
	// The uncompressed M and N, as they appear in the RFC 9383 transcript.
	wantM := "04886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f" +
		"5ff355163e43ce224e0b0e65ff02ac8e5c7be09419c785e0ca547d55a12e2d20"
	wantN := "04d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49" +
		"07d60aa6bfade45008a636337f5168c64d9bd36034808cd564490b1e656edbe7"
	if !bytes.Equal(spake2pMBytes, unhex(t, wantM)) {
		t.Errorf("M = %x", spake2pMBytes)
	}
	if !bytes.Equal(spake2pNBytes, unhex(t, wantN)) {
		t.Errorf("N = %x", spake2pNBytes)
	}
}

// TestSPAKE2PRFC9383 checks every intermediate value of the RFC 9383
// vector: the group arithmetic and transcript are shared with Matter; only
// the key schedule differs.
func TestSPAKE2PRFC9383(t *testing.T) {
	v := rfc9383
	w0, w1 := unhexArray32(t, v.w0), unhexArray32(t, v.w1)
	x, y := unhexArray32(t, v.x), unhexArray32(t, v.y)
	ctx, idP, idV := []byte(v.context), []byte(v.idProver), []byte(v.idVerifier)

	l, err := nistec.NewP256Point().ScalarBaseMult(w1[:])
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Bytes(); !bytes.Equal(got, unhex(t, v.l)) {
		t.Errorf("L = %x", got)
	}

	prover, shareP, err := newProver(scheduleRFC9383, ctx, idP, idV, w0[:], w1[:], x[:])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shareP, unhex(t, v.shareP)) {
		t.Errorf("shareP = %x", shareP)
	}

	shareV, zV, vV, err := verifierPoints(w0, y, unhex(t, v.l), shareP)
	if err != nil {
		t.Fatal(err)
	}
	zP, vP, err := proverPoints(w0, w1, x, shareV)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want []byte
	}{
		{"shareV", shareV, unhex(t, v.shareV)},
		{"verifier Z", zV, unhex(t, v.z)},
		{"verifier V", vV, unhex(t, v.v)},
		{"prover Z", zP, unhex(t, v.z)},
		{"prover V", vP, unhex(t, v.v)},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s = %x, want %x", c.name, c.got, c.want)
		}
	}

	tt := appendTranscript(nil, ctx, idP, idV, shareP, shareV, zP, vP, w0[:])
	if want := unhex(t, v.tt); !bytes.Equal(tt, want) {
		t.Fatalf("TT = %x\nwant %x", tt, want)
	}
	keys, err := scheduleRFC9383.derive(tt)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want []byte
	}{
		{"K_main", keys.main[:], unhex(t, v.kMain)},
		{"K_confirmP", keys.confirmP, unhex(t, v.kConfirmP)},
		{"K_confirmV", keys.confirmV, unhex(t, v.kConfirmV)},
		{"K_shared", keys.shared, unhex(t, v.kShared)},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s = %x, want %x", c.name, c.got, c.want)
		}
	}

	// And the whole exchange through the role types.
	pv := &PasscodeVerifier{W0: *w0, L: [PointSize]byte(unhex(t, v.l))}
	verifier, pB, cB, err := newVerifier(scheduleRFC9383, ctx, idP, idV, pv, shareP, y[:])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pB, unhex(t, v.shareV)) || !bytes.Equal(cB, unhex(t, v.confirmV)) {
		t.Fatalf("verifier sent pB %x, cB %x", pB, cB)
	}
	cA, proverKey, err := prover.Finish(pB, cB)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cA, unhex(t, v.confirmP)) || !bytes.Equal(proverKey, unhex(t, v.kShared)) {
		t.Fatalf("prover sent cA %x, derived %x", cA, proverKey)
	}
	verifierKey, err := verifier.Finish(cA)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(verifierKey, unhex(t, v.kShared)) {
		t.Fatalf("verifier derived %x", verifierKey)
	}
}

// draft01Vectors are the SPAKE2+ vectors of connectedhomeip
// src/crypto/tests/SPAKE2P_RFC_test_vectors.h, from
// draft-bar-cfrg-spake2plus-01 Appendix C. That draft's key schedule is the
// one Matter §3.10 adopted (Ka ‖ Ke, KcA ‖ KcB, cA = HMAC(KcA, Y),
// cB = HMAC(KcB, X)), so these check the exported Matter schedule.
var draft01Vectors = []struct {
	idProver, idVerifier string
	x, shareP, y, shareV string
	z, v                 string
	ka, ke, kcA, kcB     string
	cA, cB               string
}{
	{
		idProver: "client", idVerifier: "server",
		x: "8b0f3f383905cf3a3bb955ef8fb62e24849dd349a05ca79aafb18041d30cbdb6",
		shareP: "04af09987a593d3bac8694b123839422c3cc87e37d6b41c1d630f000dd64980e53" +
			"7ae704bcede04ea3bec9b7475b32fa2ca3b684be14d11645e38ea6609eb39e7e",
		y: "2e0895b0e763d6d5a9564433e64ac3cac74ff897f6c3445247ba1bab40082a91",
		shareV: "04417592620aebf9fd203616bbb9f121b730c258b286f890c5f19fea833a9c900c" +
			"be9057bc549a3e19975be9927f0e7614f08d1f0a108eede5fd7eb5624584a4f4",
		z: "0471a35282d2026f36bf3ceb38fcf87e3112a4452f46e9f7b47fd769cfb570145b" +
			"62589c76b7aa1eb6080a832e5332c36898426912e29c40ef9e9c742eee82bf30",
		v: "046718981bf15bc4db538fc1f1c1d058cb0eececf1dbe1b1ea08a4e25275d382e8" +
			"2b348c8131d8ed669d169c2e03a858db7cf6ca2853a4071251a39fbe8cfc39bc",
		ka:  "f9cab9adcc0ed8e5a4db11a8505914b2",
		ke:  "801db297654816eb4f02868129b9dc89",
		kcA: "0d248d7d19234f1486b2efba5179c52d",
		kcB: "556291df26d705a2caedd6474dd0079b",
		cA:  "d4376f2da9c72226dd151b77c2919071155fc22a2068d90b5faa6c78c11e77dd",
		cB:  "0660a680663e8c5695956fb22dff298b1d07a526cf3cc591adfecd1f6ef6e02e",
	},
	{
		idProver: "client", idVerifier: "",
		x: "ec82d9258337f61239c9cd68e8e532a3a6b83d12d2b1ca5d543f44def17dfb8d",
		shareP: "04230779960824076d3666a7418e4d433e2fa15b06176eabdd572f43a32ecc79a1" +
			"92b243d2624310a7356273b86e5fd9bd627d3ade762baeff1a320d4ad7a4e47f",
		y: "eac3f7de4b198d5fe25c443c0cd4963807add767815dd02a6f0133b4bc2c9eb0",
		shareV: "044558642e71b616b248c9583bd6d7aa1b3952c6df6a9f7492a06035ca5d92522d" +
			"84443de7aa20a59380fa4de6b7438d925dbfb7f1cfe60d79acf961ee33988c7d",
		z: "04b4e8770f19f58ddf83f9220c3a9305792665e0c60989e6ee9d7fa449c775d639" +
			"5f6f25f307e3903ac045a013fbb5a676e872a6abfcf4d7bb5aac69efd6140eed",
		v: "04141db83bc7d96f41b636622e7a5c552ad83211ff55319ac25ed0a09f0818bd94" +
			"2e8150319bfbfa686183806dc61911183f6a0f5956156023d96e0f93d275bf50",
		ka:  "e2cbee3ae19a4dbe9f146be6bee9bfa1",
		ke:  "6989d8f9177ef7df67da437987f07255",
		kcA: "2f9e0bb669d2c22645bce34da04ac16a",
		kcB: "eb7a35168759dd8e9ce44e4dc51277ce",
		cA:  "e1b9258807ba4750dae1d7f3c3c294f13dc4fa60cde346d5de7d200e2f8fd3fc",
		cB:  "b9c39dfa49c47757de778d9bedeaca2448b905be19a43b94ee24b770208135e3",
	},
	{
		idProver: "", idVerifier: "server",
		x: "ba0f0f5b78ef23fd07868e46aeca63b51fda519a3420501acbe23d53c2918748",
		shareP: "04c14d28f4370fea20745106cea58bcfb60f2949fa4e131b9aff5ea13fd5aa79d5" +
			"07ae1d229e447e000f15eb78a9a32c2b88652e3411642043c1b2b7992cf2d4de",
		y: "39397fbe6db47e9fbd1a263d79f5d0aaa44df26ce755f78e092644b434533a42",
		shareV: "04d1bee3120fd87e86fe189cb952dc688823080e62524dd2c08dffe3d22a0a8986" +
			"aa64c9fe0191033cafbc9bcaefc8e2ba8ba860cd127af9efdd7f1c3a41920fe8",
		z: "04aac71cf4c8df8181b867c9ecbee9d0963caf51f1534a823429c26fe5248313ff" +
			"c5c5e44ea8162161ab6b3d73b87704a45889bf6343d96fa96cd1641efa71607c",
		v: "04c7c9505365f7ce57293c92a37f1bbdc68e0322901e61edef59fee7876b17b063" +
			"e0fa4a126eae0a671b37f1464cf1ccad591c33ae944e3b1f318d76e36fea9966",
		ka:  "ec8d19b807ffb1d1eea81a93ba35cdfe",
		ke:  "2ea40e4badfa5452b5744dc5983e99ba",
		kcA: "66de534d9bf1e44e96a53a4b48d6b353",
		kcB: "4945c38bb476cb0f347f3222be9b64a2",
		cA:  "e564c93b3015efb946dc16d642bbe7d1c8da5be164ed9fc3bae4e0ff86e1bd3c",
		cB:  "072a94d9a54edc201d8891534c2317cadf3ea3792827f479e873f93e90f21552",
	},
	{
		idProver: "", idVerifier: "",
		x: "5b478619804f4938d361fbba3a20648725222f0a54cc4c876139efe7d9a21786",
		shareP: "04a6db23d001723fb01fcfc9d08746c3c2a0a3feff8635d29cad2853e735862342" +
			"5cf39712e928054561ba71e2dc11f300f1760e71eb177021a8f85e78689071cd",
		y: "766770dad8c8eecba936823c0aed044b8c3c4f7655e8beec44a15dcbcaf78e5e",
		shareV: "04390d29bf185c3abf99f150ae7c13388c82b6be0c07b1b8d90d26853e84374bbd" +
			"c82becdb978ca3792f472424106a2578012752c11938fcf60a41df75ff7cf947",
		z: "040a150d9a62f514c9a1fedd782a0240a342721046cefb1111c3adb3be893ce9fc" +
			"d2ffa137922fcf8a588d0f76ba9c55c85da2af3f1c789ca17976810387fb1d7e",
		v: "04f8e247cc263a1846272f5a3b61b68aa60a5a2665d10cd22c89cd6bad05dc0e5e" +
			"650f21ff017186cc92651a4cd7e66ce88f529299f340ea80fb90a9bad094e1a6",
		ka:  "5929a3ce9822c81401bf0f764f69af08",
		ke:  "ea3276d68334576097e04b19ee5a3a8b",
		kcA: "7f84b939d600117256b0c8a6d40cf181",
		kcB: "f7d7547ced93f681e8df4c258c4516fd",
		cA:  "71d9412779b6c45a2c615c9df3f1fd93dc0aaf63104da8ece4aa1b5a3a415fea",
		cB:  "095dc0400355cc233fde7437811815b3c1524aae80fd4e6810cf531cf11d20e3",
	},
}

const (
	draft01Context = "SPAKE2+-P256-SHA256-HKDF draft-01"
	draft01W0      = "e6887cf9bdfb7579c69bf47928a84514b5e355ac034863f7ffaf4390e67d798c"
	draft01W1      = "24b5ae4abda868ec9336ffc3b78ee31c5755bef1759227ef5372ca139b94e512"
	draft01L       = "0495645cfb74df6e58f9748bb83a86620bab7c82e107f57d6870da8cbcb2ff9f70" +
		"63a14b6402c62f99afcb9706a4d1a143273259fe76f1c605a3639745a92154b9"
)

func TestSPAKE2PMatterSchedule(t *testing.T) {
	w0, w1 := unhexArray32(t, draft01W0), unhexArray32(t, draft01W1)
	pv := &PasscodeVerifier{W0: *w0, L: [PointSize]byte(unhex(t, draft01L))}
	for _, v := range draft01Vectors {
		t.Run(v.idProver+"/"+v.idVerifier, func(t *testing.T) {
			ctx, idP, idV := []byte(draft01Context), []byte(v.idProver), []byte(v.idVerifier)
			x, y := unhexArray32(t, v.x), unhexArray32(t, v.y)

			prover, pA, err := newProver(scheduleMatter, ctx, idP, idV, w0[:], w1[:], x[:])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pA, unhex(t, v.shareP)) {
				t.Fatalf("pA = %x", pA)
			}
			verifier, pB, cB, err := newVerifier(scheduleMatter, ctx, idP, idV, pv, pA, y[:])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pB, unhex(t, v.shareV)) {
				t.Fatalf("pB = %x", pB)
			}
			if !bytes.Equal(cB, unhex(t, v.cB)) {
				t.Fatalf("cB = %x, want %x", cB, unhex(t, v.cB))
			}

			z, vv, err := proverPoints(w0, w1, x, pB)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(z, unhex(t, v.z)) || !bytes.Equal(vv, unhex(t, v.v)) {
				t.Fatalf("Z, V = %x, %x", z, vv)
			}
			keys, err := scheduleMatter.derive(appendTranscript(nil, ctx, idP, idV, pA, pB, z, vv, w0[:]))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name      string
				got, want []byte
			}{
				{"Ka", keys.main[:16], unhex(t, v.ka)},
				{"Ke", keys.main[16:], unhex(t, v.ke)},
				{"KcA", keys.confirmP, unhex(t, v.kcA)},
				{"KcB", keys.confirmV, unhex(t, v.kcB)},
			} {
				if !bytes.Equal(c.got, c.want) {
					t.Errorf("%s = %x, want %x", c.name, c.got, c.want)
				}
			}

			cA, proverKe, err := prover.Finish(pB, cB)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(cA, unhex(t, v.cA)) || !bytes.Equal(proverKe, unhex(t, v.ke)) {
				t.Fatalf("prover: cA %x, Ke %x", cA, proverKe)
			}
			verifierKe, err := verifier.Finish(cA)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(verifierKe, unhex(t, v.ke)) {
				t.Fatalf("verifier: Ke %x", verifierKe)
			}
		})
	}
}

// The commissionable data example of the SDK and the Matter test harnesses:
// passcode 20202021, salt "SPAKE2P Key Salt", 1000 iterations. The verifier
// is published base64-encoded by connectedhomeip (spake2p gen-verifier
// documentation in src/tools/spake2p, and the default
// CommissionableDataProvider configuration).
const (
	specPasscode   = 20202021
	specSalt       = "SPAKE2P Key Salt"
	specIterations = 1000
	specVerifier   = "uWFwqugDNGiEck/po7KHwwMwwqZgN10XuyBajPGuyzUEV/iree4lOrao5GuwnlQ65CJzbeUB49s31EH+NEkg0JVI5MGCQGMMT/SRPFNRODm3wH/MBiehuFc6FJ/NH6Rmzw=="
)

func TestComputePasscodeVerifierExample(t *testing.T) {
	want, err := base64.StdEncoding.DecodeString(specVerifier)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := ComputePasscodeVerifier(specPasscode, []byte(specSalt), specIterations)
	if err != nil {
		t.Fatal(err)
	}
	if got := pv.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("verifier = %x\nwant       %x", got, want)
	}

	// The prover's w0 is the verifier's, and its w1 yields L.
	w0, w1, err := ComputeW0W1(specPasscode, []byte(specSalt), specIterations)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w0, pv.W0[:]) {
		t.Fatalf("w0 = %x", w0)
	}
	l, err := nistec.NewP256Point().ScalarBaseMult(w1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(l.Bytes(), pv.L[:]) {
		t.Fatalf("w1·P = %x", l.Bytes())
	}

	parsed, err := ParsePasscodeVerifier(want)
	if err != nil {
		t.Fatal(err)
	}
	if *parsed != *pv {
		t.Fatal("ParsePasscodeVerifier does not round-trip")
	}
}

func TestValidPasscode(t *testing.T) {
	for _, tc := range []struct {
		passcode uint32
		valid    bool
	}{
		{0, false}, // 00000000
		{1, true},
		{20202021, true},
		{12345679, true},
		{99999998, true},
		{99999999, false},
		{100000000, false},
		{0xffffffff, false},
		// The trivial passcodes of §5.1.7.1.
		{11111111, false}, {22222222, false}, {33333333, false},
		{44444444, false}, {55555555, false}, {66666666, false},
		{77777777, false}, {88888888, false},
		{12345678, false}, {87654321, false},
	} {
		if got := ValidPasscode(tc.passcode); got != tc.valid {
			t.Errorf("ValidPasscode(%08d) = %v, want %v", tc.passcode, got, tc.valid)
		}
	}
}

func TestComputeW0W1Rejects(t *testing.T) {
	salt := []byte(specSalt)
	for _, tc := range []struct {
		name       string
		passcode   uint32
		salt       []byte
		iterations int
	}{
		{"passcode 00000000", 0, salt, 1000},
		{"passcode 11111111", 11111111, salt, 1000},
		{"passcode 12345678", 12345678, salt, 1000},
		{"passcode 99999999", 99999999, salt, 1000},
		{"passcode above range", 100000000, salt, 1000},
		{"999 iterations", specPasscode, salt, 999},
		{"100001 iterations", specPasscode, salt, 100001},
		{"15-octet salt", specPasscode, salt[:15], 1000},
		{"33-octet salt", specPasscode, make([]byte, 33), 1000},
	} {
		if _, _, err := ComputeW0W1(tc.passcode, tc.salt, tc.iterations); err == nil {
			t.Errorf("%s: ComputeW0W1 succeeded", tc.name)
		}
		if _, err := ComputePasscodeVerifier(tc.passcode, tc.salt, tc.iterations); err == nil {
			t.Errorf("%s: ComputePasscodeVerifier succeeded", tc.name)
		}
	}
}

// newTestExchange returns the prover secrets and device verifier of a
// passcode with a random salt.
func newTestExchange(t testing.TB, passcode uint32) (w0, w1 []byte, pv *PasscodeVerifier) {
	t.Helper()
	salt := make([]byte, 32)
	rand.Read(salt)
	w0, w1, err := ComputeW0W1(passcode, salt, PBKDFMinIterations)
	if err != nil {
		t.Fatal(err)
	}
	pv, err = ComputePasscodeVerifier(passcode, salt, PBKDFMinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return w0, w1, pv
}

func TestSPAKE2PExchange(t *testing.T) {
	w0, w1, pv := newTestExchange(t, specPasscode)
	context := PASEContext([]byte("request"), []byte("response"))

	prover, pA, err := NewProver(context[:], nil, nil, w0, w1)
	if err != nil {
		t.Fatal(err)
	}
	verifier, pB, cB, err := NewVerifier(context[:], nil, nil, pv, pA)
	if err != nil {
		t.Fatal(err)
	}
	if len(pA) != PointSize || len(pB) != PointSize || len(cB) != ConfirmationSize {
		t.Fatalf("sizes: pA %d, pB %d, cB %d", len(pA), len(pB), len(cB))
	}
	cA, proverKe, err := prover.Finish(pB, cB)
	if err != nil {
		t.Fatal(err)
	}
	verifierKe, err := verifier.Finish(cA)
	if err != nil {
		t.Fatal(err)
	}
	if len(proverKe) != SharedKeySize || !bytes.Equal(proverKe, verifierKe) {
		t.Fatalf("Ke differ: %x, %x", proverKe, verifierKe)
	}
	pk, err := DerivePASESessionKeys(proverKe)
	if err != nil {
		t.Fatal(err)
	}
	vk, err := DerivePASESessionKeys(verifierKe)
	if err != nil {
		t.Fatal(err)
	}
	if pk != vk {
		t.Fatal("session keys differ")
	}

	// Spent objects refuse to run again.
	if _, _, err := prover.Finish(pB, cB); err == nil {
		t.Error("second Prover.Finish succeeded")
	}
	if _, err := verifier.Finish(cA); err == nil {
		t.Error("second Verifier.Finish succeeded")
	}
}

func TestSPAKE2PWrongPasscode(t *testing.T) {
	_, _, pv := newTestExchange(t, specPasscode)
	salt := make([]byte, 16)
	w0, w1, err := ComputeW0W1(specPasscode+1, salt, PBKDFMinIterations)
	if err != nil {
		t.Fatal(err)
	}
	prover, pA, err := NewProver(nil, nil, nil, w0, w1)
	if err != nil {
		t.Fatal(err)
	}
	verifier, pB, cB, err := NewVerifier(nil, nil, nil, pv, pA)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := prover.Finish(pB, cB); !errors.Is(err, ErrConfirmationFailed) {
		t.Fatalf("prover with the wrong passcode: err = %v", err)
	}
	// The device must also reject whatever the prover sends next.
	if _, err := verifier.Finish(make([]byte, ConfirmationSize)); !errors.Is(err, ErrConfirmationFailed) {
		t.Fatalf("verifier: err = %v", err)
	}
}

func TestSPAKE2PTamperedConfirmation(t *testing.T) {
	w0, w1, pv := newTestExchange(t, specPasscode)
	run := func() (*Prover, *Verifier, []byte, []byte) {
		prover, pA, err := NewProver(nil, nil, nil, w0, w1)
		if err != nil {
			t.Fatal(err)
		}
		verifier, pB, cB, err := NewVerifier(nil, nil, nil, pv, pA)
		if err != nil {
			t.Fatal(err)
		}
		return prover, verifier, pB, cB
	}

	for name, mutate := range map[string]func([]byte) []byte{
		"bit flip":  func(c []byte) []byte { c = bytes.Clone(c); c[7] ^= 0x10; return c },
		"truncated": func(c []byte) []byte { return c[:len(c)-1] },
		"extended":  func(c []byte) []byte { return append(bytes.Clone(c), 0) },
		"empty":     func([]byte) []byte { return nil },
	} {
		t.Run("cB "+name, func(t *testing.T) {
			prover, _, pB, cB := run()
			if _, _, err := prover.Finish(pB, mutate(cB)); !errors.Is(err, ErrConfirmationFailed) {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("cA "+name, func(t *testing.T) {
			prover, verifier, pB, cB := run()
			cA, _, err := prover.Finish(pB, cB)
			if err != nil {
				t.Fatal(err)
			}
			if ke, err := verifier.Finish(mutate(cA)); !errors.Is(err, ErrConfirmationFailed) || ke != nil {
				t.Fatalf("Finish = %x, %v", ke, err)
			}
		})
	}

	// A different context (as if a PBKDF parameter message were altered)
	// breaks confirmation too.
	prover, pA, _ := NewProver([]byte("context A"), nil, nil, w0, w1)
	_, pB, cB, _ := NewVerifier([]byte("context B"), nil, nil, pv, pA)
	if _, _, err := prover.Finish(pB, cB); !errors.Is(err, ErrConfirmationFailed) {
		t.Fatalf("mismatched context: err = %v", err)
	}
}

// invalidShares returns encodings that must not be accepted as a share,
// given the blinding point w0·M or w0·N that would unblind to the identity.
func invalidShares(t *testing.T, blind []byte) map[string][]byte {
	valid := unhex(t, rfc9383.shareP)
	offCurve := bytes.Clone(valid)
	offCurve[64] ^= 1
	xTooBig := bytes.Clone(valid)
	copy(xTooBig[1:33], bytes.Repeat([]byte{0xff}, 32))
	hybrid := bytes.Clone(valid)
	hybrid[0] = 0x06 | valid[64]&1
	compressed := append([]byte{0x02 | valid[64]&1}, valid[1:33]...)
	return map[string][]byte{
		"nil":                  nil,
		"identity (0x00)":      {0x00},
		"short":                valid[:64],
		"long":                 append(bytes.Clone(valid), 0),
		"compressed":           compressed,
		"hybrid":               hybrid,
		"off curve":            offCurve,
		"x not reduced":        xTooBig,
		"all zero":             make([]byte, 65),
		"unblinds to identity": blind,
	}
}

func TestSPAKE2PInvalidShares(t *testing.T) {
	w0, w1, pv := newTestExchange(t, specPasscode)

	// The verifier must reject a bad pA before computing anything.
	w0M, err := nistec.NewP256Point().ScalarMult(spake2pM, w0)
	if err != nil {
		t.Fatal(err)
	}
	for name, pA := range invalidShares(t, w0M.Bytes()) {
		if _, _, _, err := NewVerifier(nil, nil, nil, pv, pA); err == nil || errors.Is(err, ErrConfirmationFailed) {
			t.Errorf("pA %s: err = %v", name, err)
		}
	}

	// The prover must reject a bad pB, whatever cB comes with it.
	w0N, err := nistec.NewP256Point().ScalarMult(spake2pN, w0)
	if err != nil {
		t.Fatal(err)
	}
	for name, pB := range invalidShares(t, w0N.Bytes()) {
		prover, _, err := NewProver(nil, nil, nil, w0, w1)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := prover.Finish(pB, make([]byte, 32)); err == nil || errors.Is(err, ErrConfirmationFailed) {
			t.Errorf("pB %s: err = %v", name, err)
		}
	}
}

func TestSPAKE2PScalarInputs(t *testing.T) {
	n := orderBytes()
	good := unhex(t, draft01W0)
	for _, tc := range []struct {
		name   string
		w0, w1 []byte
	}{
		{"short w0", good[:31], good},
		{"long w1", good, append(bytes.Clone(good), 0)},
		{"w0 = n", n, good},
		{"w1 = n", good, n},
		{"w0 = 2^256-1", bytes.Repeat([]byte{0xff}, 32), good},
	} {
		if _, _, err := NewProver(nil, nil, nil, tc.w0, tc.w1); err == nil {
			t.Errorf("%s: NewProver succeeded", tc.name)
		}
	}

	pA := unhex(t, rfc9383.shareP)
	if _, _, _, err := NewVerifier(nil, nil, nil, nil, pA); err == nil {
		t.Error("NewVerifier accepted a nil PasscodeVerifier")
	}
	bad := &PasscodeVerifier{W0: [GroupSize]byte(n), L: [PointSize]byte(unhex(t, draft01L))}
	if _, _, _, err := NewVerifier(nil, nil, nil, bad, pA); err == nil {
		t.Error("NewVerifier accepted an unreduced w0")
	}
}

func TestParsePasscodeVerifierRejects(t *testing.T) {
	good, err := base64.StdEncoding.DecodeString(specVerifier)
	if err != nil {
		t.Fatal(err)
	}
	w0n := bytes.Clone(good)
	copy(w0n, orderBytes())
	lOff := bytes.Clone(good)
	lOff[96] ^= 1
	lCompressed := bytes.Clone(good)
	lCompressed[32] = 0x02
	for name, b := range map[string][]byte{
		"empty":        nil,
		"short":        good[:96],
		"long":         append(bytes.Clone(good), 0),
		"w0 = n":       w0n,
		"L off curve":  lOff,
		"L not 0x04":   lCompressed,
		"L all zeroes": append(bytes.Clone(good[:32]), make([]byte, 65)...),
	} {
		if _, err := ParsePasscodeVerifier(b); err == nil {
			t.Errorf("%s: ParsePasscodeVerifier succeeded", name)
		}
	}
}

func TestPASEContext(t *testing.T) {
	got := PASEContext([]byte{0x15, 0x30}, []byte{0x15, 0x31})
	want := Hash([]byte("CHIP PAKE V1 Commissioning\x15\x30\x15\x31"))
	if got != want {
		t.Fatalf("PASEContext = %x, want %x", got, want)
	}
}

func orderBytes() []byte {
	return elliptic256Order().FillBytes(make([]byte, 32))
}

func elliptic256Order() *big.Int {
	n, _ := new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)
	return n
}

func TestReduceScalar(t *testing.T) {
	n := elliptic256Order()
	check := func(in []byte) {
		t.Helper()
		var got [GroupSize]byte
		reduceScalar(&got, in)
		want := new(big.Int).Mod(new(big.Int).SetBytes(in), n).FillBytes(make([]byte, 32))
		if !bytes.Equal(got[:], want) {
			t.Fatalf("reduceScalar(%x) = %x, want %x", in, got, want)
		}
	}
	nb := n.Bytes()
	for _, in := range [][]byte{
		nil, {0}, {1}, nb,
		new(big.Int).Sub(n, big.NewInt(1)).Bytes(),
		new(big.Int).Add(n, big.NewInt(1)).Bytes(),
		new(big.Int).Lsh(n, 64).Bytes(),
		bytes.Repeat([]byte{0xff}, 32),
		bytes.Repeat([]byte{0xff}, 40),
		bytes.Repeat([]byte{0xff}, 64),
	} {
		check(in)
	}
	for range 500 {
		for _, size := range []int{32, 40, 48} {
			in := make([]byte, size)
			rand.Read(in)
			check(in)
		}
	}
}

func TestScalarPredicates(t *testing.T) {
	n := elliptic256Order()
	for _, tc := range []struct {
		v         *big.Int
		canonical int
		zero      int
	}{
		{big.NewInt(0), 1, 1},
		{big.NewInt(1), 1, 0},
		{new(big.Int).Sub(n, big.NewInt(1)), 1, 0},
		{n, 0, 0},
		{new(big.Int).Add(n, big.NewInt(1)), 0, 0},
		{new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)), 0, 0},
	} {
		var s [GroupSize]byte
		tc.v.FillBytes(s[:])
		if got := scalarIsCanonical(&s); got != tc.canonical {
			t.Errorf("scalarIsCanonical(%x) = %d", s, got)
		}
		if got := scalarIsZero(&s); got != tc.zero {
			t.Errorf("scalarIsZero(%x) = %d", s, got)
		}
	}
}
