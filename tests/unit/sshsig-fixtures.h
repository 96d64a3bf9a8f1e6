/* sshsig-fixtures.h: real keys and signatures made by OpenSSH 9.2 ssh-keygen and git 2.39, as data. */
/*
 * Made once with: ssh-keygen -t ed25519 / -t rsa -b 2048 / -t ecdsa;
 * ssh-keygen -Y sign -n git -f KEY msg (and -n file for ed-file);
 * git commit -S with gpg.format=ssh, dates fixed at 1700000000.
 * The private keys were thrown away.
 */
#ifndef CG_SSHSIG_FIXTURES_H
#define CG_SSHSIG_FIXTURES_H

static const char fx_msg[] = "congruent test message\n";

static const char fx_ed_pub[] =
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMU/T71g7JaUgZ+hIWFugjO/lqOs8ScOPe2O7b5vioWV";

static const char fx_rsa_pub[] =
	"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDHgA2a52rrDaGwsUQIsWSkoSLzdDycBYl2IiwfNrp/9izl6zd22MMkD6A1hS0VK0fID/YRe0FHOBZLdHax4+NGvJFuUl2Rz+NCXPaLPfwRY0/g3xFbjbdHH7Kvrh1oExPwQdbi/ZcIi4125NwkEU/QIv71QeK87IVrqcnVxE08eTLrv5I+shwMftGm4HqWI50c/HwgbT5O183eMlxRs51m5gGGGQ6XOKTdmwbiAxI0EIQnXcjeT4jcd1nK0pduEUEQtQ43SzBoxlybaJmGsM/r56+jVh4jDuoHLVgDgX5Q8cnkaYv3LCtAa+xY3EhgjR7rzNXrxl6cn81wcIQEJ3/n";

static const char fx_ec_pub[] =
	"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPDa3dVm4m0h28B/RViqzGURQ1jVyddaQVU24qXEm5oCv4V849DVaRA9WzDICgL4b/UZTA0p4X/1OXgFwMWq+y4=";

static const char fx_ed_sig[] =
	"-----BEGIN SSH SIGNATURE-----\n"
	"U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgxT9PvWDslpSBn6EhYW6CM7+Wo6\n"
	"zxJw497Y7tvm+KhZUAAAADZ2l0AAAAAAAAAAZzaGE1MTIAAABTAAAAC3NzaC1lZDI1NTE5\n"
	"AAAAQA26JtrwVAQXwcQHy2ME4TStMOobnLO2naLnV3QsqTdo/VY+uw0EeUYM4to5gdsm9v\n"
	"qIQkuxnkcmyd1iUUeixwI=\n"
	"-----END SSH SIGNATURE-----\n";

static const char fx_rsa_sig[] =
	"-----BEGIN SSH SIGNATURE-----\n"
	"U1NIU0lHAAAAAQAAARcAAAAHc3NoLXJzYQAAAAMBAAEAAAEBAMeADZrnausNobCxRAixZK\n"
	"ShIvN0PJwFiXYiLB82un/2LOXrN3bYwyQPoDWFLRUrR8gP9hF7QUc4Fkt0drHj40a8kW5S\n"
	"XZHP40Jc9os9/BFjT+DfEVuNt0cfsq+uHWgTE/BB1uL9lwiLjXbk3CQRT9Ai/vVB4rzshW\n"
	"upydXETTx5Muu/kj6yHAx+0abgepYjnRz8fCBtPk7Xzd4yXFGznWbmAYYZDpc4pN2bBuID\n"
	"EjQQhCddyN5PiNx3WcrSl24RQRC1DjdLMGjGXJtomYawz+vnr6NWHiMO6gctWAOBflDxye\n"
	"Rpi/csK0Br7FjcSGCNHuvM1evGXpyfzXBwhAQnf+cAAAADZ2l0AAAAAAAAAAZzaGE1MTIA\n"
	"AAEUAAAADHJzYS1zaGEyLTUxMgAAAQB3TKpaHFxxJgr8pCF+Nw4gIPDcItSq84rehLs59U\n"
	"iJHUY05nmbsbIo9096WsgTwlik8VU72sglKLVdN8LBmzzy+LCCi3qC5agHfzzpTWv7TpAv\n"
	"cCMdNca17oy3bF4xLS6h5dWTSAZfRYHR3U4b8UBSOLRPCWNU2EpXULkYFWaUx9G7jVeRNZ\n"
	"UEzsHuuAIMnyelhdFy+WVgJxS0Is0pix50bvDFoFw4PVlOQN7fPDNCGGvscL59d0hA4uZY\n"
	"XfsU3S8RxhOBmKp36tjUUi0evFbdgclW31wvoCRX8yFIO03ImrOYPPwYOg4QsdSFPBFjk+\n"
	"RRsGURWqesILhe7YMNAn8i\n"
	"-----END SSH SIGNATURE-----\n";

static const char fx_ec_sig[] =
	"-----BEGIN SSH SIGNATURE-----\n"
	"U1NIU0lHAAAAAQAAAGgAAAATZWNkc2Etc2hhMi1uaXN0cDI1NgAAAAhuaXN0cDI1NgAAAE\n"
	"EE8Nrd1WbibSHbwH9FWKrMZRFDWNXJ11pBVTbipcSbmgK/hXzj0NVpED1bMMgKAvhv9RlM\n"
	"DSnhf/U5eAXAxar7LgAAAANnaXQAAAAAAAAABnNoYTUxMgAAAGQAAAATZWNkc2Etc2hhMi\n"
	"1uaXN0cDI1NgAAAEkAAAAhALS0uFou5s95CjQJHMeXcEwk23Ujgg0edkEU36gwiM0aAAAA\n"
	"IFZjcSxIR1WIwCIE2Osf0aDlgQ5Qltv3aOobZVWOG+Vs\n"
	"-----END SSH SIGNATURE-----\n";

static const char fx_ed_file_sig[] =
	"-----BEGIN SSH SIGNATURE-----\n"
	"U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgxT9PvWDslpSBn6EhYW6CM7+Wo6\n"
	"zxJw497Y7tvm+KhZUAAAAEZmlsZQAAAAAAAAAGc2hhNTEyAAAAUwAAAAtzc2gtZWQyNTUx\n"
	"OQAAAEBYW65bOVoFqu0e/5G4lHgoo+b4zU9ep90xkWTfh4wmRo8Q0t1ON7ohiHARoqBBfn\n"
	"rg1h4XnkfDpaZ39f4uz4EF\n"
	"-----END SSH SIGNATURE-----\n";

static const char fx_commit[] =
	"tree a1dffc7a64c0b2d395484bf452e9aeb1da3a18f2\n"
	"author T <t@example.com> 1700000000 +0000\n"
	"committer T <t@example.com> 1700000000 +0000\n"
	"gpgsig -----BEGIN SSH SIGNATURE-----\n"
	" U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgxT9PvWDslpSBn6EhYW6CM7+Wo6\n"
	" zxJw497Y7tvm+KhZUAAAADZ2l0AAAAAAAAAAZzaGE1MTIAAABTAAAAC3NzaC1lZDI1NTE5\n"
	" AAAAQAGCG5Kz6oVT7lDM1Sz/q25vut18FIk+KhzQsZFAchac2UyIOIGPaUueorrXy4Rfaz\n"
	" oDR8EjfsjASrZjpZ9ofQI=\n"
	" -----END SSH SIGNATURE-----\n"
	"\n"
	"signed commit\n";

#endif
