#!/bin/sh
# maildrill: Postfix for the real target (run once at image build).
# Local domains go to Dovecot over LMTP; everything else is the outside
# world, which maildrill captures: the discard transport logs it as sent.
set -e
postconf -e \
  'compatibility_level = 3.6' \
  'inet_protocols = ipv4' \
  'maillog_file = /var/log/mail.log' \
  'mynetworks = 127.0.0.0/8' \
  'mydestination = $myhostname, localhost, $mydomain' \
  'local_transport = lmtp:unix:private/dovecot-lmtp' \
  'local_recipient_maps =' \
  'default_transport = discard' \
  'relay_transport = discard' \
  'smtpd_sasl_type = dovecot' \
  'smtpd_sasl_path = private/auth' \
  'smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination' \
  'smtpd_tls_security_level = none' \
  'smtp_tls_security_level = none' \
  'biff = no'
sub='-o syslog_name=postfix/submission -o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=no -o smtpd_relay_restrictions=permit_sasl_authenticated,reject -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject'
{
  echo "587 inet n - y - - smtpd $sub"
  echo "10587 inet n - y - - smtpd $sub -o smtpd_upstream_proxy_protocol=haproxy"
  echo "10025 inet n - y - - smtpd -o smtpd_upstream_proxy_protocol=haproxy"
} | sed 's/ -o /\n  -o /g' >>/etc/postfix/master.cf
