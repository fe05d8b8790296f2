module spool/compare/peers/go

go 1.19
